/**
 * RadSec stream framing: cuts the byte stream of a TLS (or TCP) connection into RADIUS packets.
 *
 * RFC 6614 §2.1: over RadSec, RADIUS packets are sent back to back with no other framing; each
 * packet's own Length field (octets 2-3 of its header, RFC 2865 §3) says where it ends. A Length
 * outside 20..4096 (RFC 2865 §3) leaves no way to find the next packet, so the only answer is to
 * close the connection.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { HEADER_LENGTH, MAX_PACKET_LENGTH } from './packet.ts';

/** Code (1), Identifier (1), Length (2): what must be held before a packet's size is known (RFC 2865 §3). */
const LENGTH_PREFIX = 4;
/** Offset of the Length field in the RADIUS header (RFC 2865 §3). */
const LENGTH_OFFSET = 2;

/** Why a RadSec stream cannot be framed any further; the values are stable metric labels. */
export const StreamFailure = {
  /** A packet's Length field is below 20, the header size (RFC 2865 §3). */
  LengthTooSmall: 'length-too-small',
  /** A packet's Length field is above the reader's maximum, at most 4096 (RFC 2865 §3). */
  LengthTooLarge: 'length-too-large',
} as const;

/** One of {@link StreamFailure}'s values. */
export type StreamFailure = (typeof StreamFailure)[keyof typeof StreamFailure];

/** The result of {@link RadiusStreamReader.push}. */
export type StreamResult =
  | { readonly ok: true; readonly packets: Buffer[] }
  | { readonly ok: false; readonly reason: StreamFailure };

/**
 * Frames the RADIUS packets of one RadSec connection (RFC 6614 §2.1). One instance per
 * connection; feed it every chunk the socket reads, in order. It only frames: each packet is
 * exactly Length octets, and `decodePacket` judges its contents.
 *
 * Memory and copies:
 * - A packet that lies entirely inside one chunk comes back as a view (`subarray`) of that
 *   chunk, with no copy; it keeps the chunk alive for as long as it is held.
 * - A packet that spans chunks is copied once, into a buffer of exactly its Length allocated
 *   when its 4 first octets are known and checked (RFC 2865 §3), and that buffer is returned.
 *   The reader holds at most one unfinished packet, so at most `maxPacketLength - 1` octets
 *   (plus a 4-octet header scratch allocated once).
 * - A Length outside 20..maxPacketLength fails as soon as the 4 first octets of that packet
 *   are in, without waiting for the rest. The failure is final: the unfinished packet is
 *   dropped, packets finished earlier in the same chunk are not returned (the connection is
 *   closed, so no reply could reach them), and every later `push` returns the same failure.
 *
 * Chunks are not copied on arrival: the caller must not reuse a chunk's memory while packets
 * framed from it are in use (Node's `net` and `tls` sockets give a fresh buffer per read).
 */
export class RadiusStreamReader {
  readonly #maxPacketLength: number;
  /** The first octets of a packet whose header is split across chunks; allocated once. */
  readonly #header = Buffer.alloc(LENGTH_PREFIX);
  #headerHeld = 0;
  /** The packet being assembled across chunks, allocated at exactly its Length. */
  #packet: Buffer | undefined;
  #packetHeld = 0;
  #failure: StreamFailure | undefined;

  /**
   * @param maxPacketLength the largest Length accepted, 20..4096 (RFC 2865 §3); defaults to
   * 4096. A larger Length is {@link StreamFailure.LengthTooLarge}.
   */
  constructor(maxPacketLength: number = MAX_PACKET_LENGTH) {
    assert.ok(
      Number.isInteger(maxPacketLength) && maxPacketLength >= HEADER_LENGTH && maxPacketLength <= MAX_PACKET_LENGTH,
      `maxPacketLength must be an integer in ${HEADER_LENGTH}..${MAX_PACKET_LENGTH}`,
    );
    this.#maxPacketLength = maxPacketLength;
  }

  /** Octets held of an unfinished packet (header included); 0 between packets and after a failure. */
  get pending(): number {
    return this.#packet === undefined ? this.#headerHeld : this.#packetHeld;
  }

  /** The failure that ended this stream, if any. */
  get failure(): StreamFailure | undefined {
    return this.#failure;
  }

  /**
   * Feeds one chunk read from the connection. Returns the packets it finished, in stream order
   * (possibly none), or the failure after which the connection must be closed. Never throws.
   */
  push(chunk: Buffer): StreamResult {
    if (this.#failure !== undefined) return { ok: false, reason: this.#failure };
    const packets: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#packet === undefined) {
        if (this.#headerHeld === 0 && chunk.length - offset >= LENGTH_PREFIX) {
          // Fast path: this packet's Length field is inside the chunk.
          const length = chunk.readUInt16BE(offset + LENGTH_OFFSET);
          const failure = this.#check(length);
          if (failure !== undefined) return this.#fail(failure);
          if (chunk.length - offset >= length) {
            packets.push(chunk.subarray(offset, offset + length));
            offset += length;
            continue;
          }
          this.#packet = Buffer.allocUnsafe(length);
          this.#packetHeld = 0;
        } else {
          // The header is split across chunks: gather its 4 first octets (RFC 2865 §3).
          const copied = chunk.copy(this.#header, this.#headerHeld, offset, offset + LENGTH_PREFIX - this.#headerHeld);
          this.#headerHeld += copied;
          offset += copied;
          if (this.#headerHeld < LENGTH_PREFIX) break;
          const length = this.#header.readUInt16BE(LENGTH_OFFSET);
          const failure = this.#check(length);
          if (failure !== undefined) return this.#fail(failure);
          this.#packet = Buffer.allocUnsafe(length);
          this.#packetHeld = this.#header.copy(this.#packet);
          this.#headerHeld = 0;
        }
      }
      const packet = this.#packet;
      const copied = chunk.copy(packet, this.#packetHeld, offset, offset + packet.length - this.#packetHeld);
      this.#packetHeld += copied;
      offset += copied;
      if (this.#packetHeld === packet.length) {
        packets.push(packet);
        this.#packet = undefined;
        this.#packetHeld = 0;
      }
    }
    return { ok: true, packets };
  }

  /** RFC 2865 §3: Length is 20..4096; RFC 6614 §2.1: it alone delimits the packet. */
  #check(length: number): StreamFailure | undefined {
    if (length < HEADER_LENGTH) return StreamFailure.LengthTooSmall;
    if (length > this.#maxPacketLength) return StreamFailure.LengthTooLarge;
    return undefined;
  }

  #fail(reason: StreamFailure): StreamResult {
    this.#failure = reason;
    this.#packet = undefined;
    this.#packetHeld = 0;
    this.#headerHeld = 0;
    return { ok: false, reason };
  }
}
