/**
 * Reads the random and the session ID of a plaintext TLS ClientHello or ServerHello.
 *
 * Node exposes neither: RFC 5216 §2.3 builds the TLS 1.2 EAP Session-Id from the randoms, the
 * ClientHello random binds a TLS socket to its conversation, and the ServerHello session ID names
 * the session a TLS 1.2 peer may resume (RFC 5246 §7.4.1.3).
 */

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const VERSION_BYTES = 2;
const RANDOM_BYTES = 32;
const MAX_SESSION_ID_BYTES = 32;
const CONTENT_TYPE_HANDSHAKE = 22;
/** RFC 8446 §4.2.1. */
const SUPPORTED_VERSIONS_EXTENSION = 0x002b;
const TLS13_VERSION = 0x0304;

/** Handshake message types whose body starts with version, random and session ID (RFC 5246 §7.4). */
export const HelloType = { ClientHello: 1, ServerHello: 2 } as const;
/** One of {@link HelloType}'s values. */
export type HelloType = (typeof HelloType)[keyof typeof HelloType];

/** The fields of a hello this server uses. */
export interface HelloFields {
  readonly random: Buffer;
  /** Empty when the hello carries none. */
  readonly sessionId: Buffer;
  /**
   * A ClientHello whose supported_versions extension lists TLS 1.3 (RFC 8446 §4.2.1), within its
   * first record; false otherwise and for a ServerHello.
   */
  readonly offersTls13: boolean;
}

/**
 * Reads the hello at the start of `flight`, or undefined when the flight does not begin with a
 * plaintext handshake record holding that hello. The fields are copies.
 */
export function readHello(flight: Buffer, type: HelloType): HelloFields | undefined {
  const randomAt = RECORD_HEADER + HANDSHAKE_HEADER + VERSION_BYTES;
  const sessionIdAt = randomAt + RANDOM_BYTES + 1;
  if (flight.length < sessionIdAt) return undefined;
  if (flight[0] !== CONTENT_TYPE_HANDSHAKE || flight[RECORD_HEADER] !== type) return undefined;
  const sessionIdLength = flight[sessionIdAt - 1] ?? 0;
  if (sessionIdLength > MAX_SESSION_ID_BYTES || flight.length < sessionIdAt + sessionIdLength) return undefined;
  return {
    random: Buffer.from(flight.subarray(randomAt, randomAt + RANDOM_BYTES)),
    sessionId: Buffer.from(flight.subarray(sessionIdAt, sessionIdAt + sessionIdLength)),
    offersTls13: type === HelloType.ClientHello && listsTls13(flight, sessionIdAt + sessionIdLength),
  };
}

/**
 * Whether the ClientHello extensions, after the session ID at `at`, hold supported_versions
 * listing TLS 1.3 (RFC 8446 §4.1.2: cipher suites, compression methods, then extensions). Reads
 * only inside the first record; any inconsistency answers false.
 */
function listsTls13(flight: Buffer, at: number): boolean {
  const end = Math.min(flight.length, RECORD_HEADER + flight.readUInt16BE(3));
  const u16 = (offset: number): number => (offset + 2 <= end ? flight.readUInt16BE(offset) : -1);
  const suites = u16(at);
  if (suites < 0) return false;
  let cursor = at + 2 + suites;
  if (cursor >= end) return false;
  cursor += 1 + flight[cursor]!;
  const extensionsLength = u16(cursor);
  if (extensionsLength < 0) return false;
  const extensionsEnd = Math.min(end, cursor + 2 + extensionsLength);
  for (cursor += 2; cursor + 4 <= extensionsEnd; ) {
    const type = flight.readUInt16BE(cursor);
    const length = flight.readUInt16BE(cursor + 2);
    const body = cursor + 4;
    if (type === SUPPORTED_VERSIONS_EXTENSION) {
      const listEnd = Math.min(body + 1 + (flight[body] ?? 0), body + length, extensionsEnd);
      for (let v = body + 1; v + 2 <= listEnd; v += 2) if (flight.readUInt16BE(v) === TLS13_VERSION) return true;
      return false;
    }
    cursor = body + length;
  }
  return false;
}
