/**
 * A NAS stand-in for integration tests: Access-Requests over a real UDP socket on loopback,
 * encoded with the project codec, and every reply checked the way a strict NAS checks it
 * (RFC 2865 §3 Response Authenticator, RFC 3579 §3.2 Message-Authenticator, placed first as the
 * BlastRADIUS mitigation asks). A reply that fails a check rejects the call with an error.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  Attr,
  MicrosoftAttr,
  PacketCode,
  Vendor,
  decodePacket,
  decodeTunnelInteger,
  decodeTunnelString,
  decryptMppeKey,
  getAttribute,
  encodeRequest,
  getVendorAttributes,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
  type RadiusAttribute,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';

/** Loopback: no test reaches outside it (ARCHITECTURE habit 12). */
const LOOPBACK = '127.0.0.1';
/** How long a reply is awaited by default. Generous: two tap jobs share a small machine. */
const DEFAULT_REPLY_TIMEOUT_MS = 5_000;
/** How long {@link expectNoReply} listens by default. */
export const NO_REPLY_WINDOW_MS = 300;

/** The codes that may answer an Access-Request (RFC 2865 §4). */
const ACCESS_REPLY_CODES: ReadonlySet<number> = new Set<number>([
  PacketCode.AccessAccept,
  PacketCode.AccessReject,
  PacketCode.AccessChallenge,
]);

/** One request sent and the verified reply it got. */
export interface RadiusExchange {
  /** The request datagram exactly as sent (resend it to test duplicate detection). */
  readonly request: Buffer;
  /** {@link request} decoded. */
  readonly requestPacket: RadiusPacket;
  /** The Request Authenticator of {@link request}: the key of the reply's MACs and of RFC 2548 key hiding. */
  readonly requestAuthenticator: Buffer;
  /** The reply, decoded and verified. */
  readonly reply: RadiusPacket;
}

/** Options of {@link RadiusTestClient.open}. */
export interface RadiusTestClientOptions {
  /** The server's UDP port on 127.0.0.1. */
  readonly port: number;
  /** The shared secret. */
  readonly secret: string | Buffer;
  /** How long to wait for a reply; 5000 ms by default. */
  readonly timeoutMs?: number;
  /** The first RADIUS Identifier used; then +1 per request, modulo 256. 0 by default. */
  readonly firstIdentifier?: number;
  /**
   * Require Message-Authenticator as the first attribute of every reply (the BlastRADIUS
   * mitigation); true by default. False for servers that place it elsewhere (FreeRADIUS 3.2).
   */
  readonly messageAuthenticatorFirst?: boolean;
}

/**
 * Decodes `datagram` as the reply to the request whose Identifier and Authenticator are given and
 * checks it: an Access-Accept, -Reject or -Challenge, the same Identifier, a valid Response
 * Authenticator (RFC 2865 §3), and a valid Message-Authenticator (RFC 3579 §3.2) that is the
 * first attribute unless `messageAuthenticatorFirst` is false. Throws an Error naming the first
 * check that failed.
 */
export function verifyAccessReply(
  datagram: Buffer,
  request: { readonly identifier: number; readonly authenticator: Buffer },
  secret: Buffer,
  messageAuthenticatorFirst = true,
): RadiusPacket {
  const decoded = decodePacket(datagram);
  if (!decoded.ok) throw new Error(`reply does not decode: ${decoded.reason}`);
  const reply = decoded.packet;
  if (!ACCESS_REPLY_CODES.has(reply.code)) throw new Error(`reply code ${reply.code} does not answer an Access-Request`);
  if (reply.identifier !== request.identifier) {
    throw new Error(`reply identifier ${reply.identifier} does not match request identifier ${request.identifier}`);
  }
  if (!verifyResponseAuthenticator(reply, request.authenticator, secret)) {
    throw new Error(`reply (code ${reply.code}) has an invalid Response Authenticator`);
  }
  const mac = verifyMessageAuthenticator(reply, secret, request.authenticator);
  if (mac !== 'ok') throw new Error(`reply (code ${reply.code}) Message-Authenticator is ${mac}`);
  if (messageAuthenticatorFirst && reply.attributes[0]?.type !== Attr.MessageAuthenticator) {
    throw new Error(`reply (code ${reply.code}) Message-Authenticator is not the first attribute`);
  }
  return reply;
}

/** The two MPPE keys of an Access-Accept, decrypted (RFC 2548 §2.4.2, §2.4.3). */
export interface MppeKeys {
  /** MS-MPPE-Recv-Key: MSK[0..32) (RFC 5216 §2.3). */
  readonly recv: Buffer;
  /** MS-MPPE-Send-Key: MSK[32..64). */
  readonly send: Buffer;
}

/**
 * Decrypts MS-MPPE-Recv-Key and MS-MPPE-Send-Key of `reply` with the shared secret and the
 * Request Authenticator of the request it answers. Throws unless each is present exactly once
 * and decrypts.
 */
export function decryptMppeKeys(reply: RadiusPacket, secret: Buffer, requestAuthenticator: Buffer): MppeKeys {
  const one = (vendorType: number, name: string): Buffer => {
    const values = getVendorAttributes(reply, Vendor.Microsoft, vendorType);
    if (values.length !== 1) throw new Error(`${name}: ${values.length} attributes, want 1`);
    const key = decryptMppeKey(values[0]!, secret, requestAuthenticator);
    if (key === undefined) throw new Error(`${name} does not decrypt`);
    return key;
  };
  return { recv: one(MicrosoftAttr.MppeRecvKey, 'MS-MPPE-Recv-Key'), send: one(MicrosoftAttr.MppeSendKey, 'MS-MPPE-Send-Key') };
}

/** The VLAN assignment of an Access-Accept (RFC 3580 §3.31), each field undefined when absent or malformed. */
export interface VlanAttributes {
  /** Tunnel-Type (RFC 2868 §3.1); 13 is VLAN. */
  readonly tunnelType: number | undefined;
  /** Tunnel-Medium-Type (RFC 2868 §3.2); 6 is IEEE-802. */
  readonly tunnelMediumType: number | undefined;
  /** Tunnel-Private-Group-Id (RFC 2868 §3.6), the VLAN id as text. */
  readonly tunnelPrivateGroupId: string | undefined;
}

/** Reads the tagged tunnel attributes that assign a VLAN. */
export function readVlan(reply: RadiusPacket): VlanAttributes {
  const integer = (type: number): number | undefined => {
    const value = getAttribute(reply, type);
    return value === undefined ? undefined : decodeTunnelInteger(value)?.value;
  };
  const groupId = getAttribute(reply, Attr.TunnelPrivateGroupId);
  return {
    tunnelType: integer(Attr.TunnelType),
    tunnelMediumType: integer(Attr.TunnelMediumType),
    tunnelPrivateGroupId: groupId === undefined ? undefined : decodeTunnelString(groupId).value.toString('utf8'),
  };
}

/**
 * One NAS on one UDP socket bound to 127.0.0.1 on a port the OS picks. Every request and its
 * retransmissions leave from that port, which is what the server's duplicate detection keys on
 * (RFC 5080 §2.2.2). Operations run one at a time; a datagram that arrives while none waits is
 * kept in {@link unexpected}.
 */
export class RadiusTestClient {
  /** The server's port. */
  readonly port: number;
  /** The shared secret. */
  readonly secret: Buffer;
  /** Datagrams that arrived while no operation was waiting (late or unsolicited replies). */
  readonly unexpected: Buffer[] = [];
  readonly #socket: dgram.Socket;
  readonly #timeoutMs: number;
  readonly #messageAuthenticatorFirst: boolean;
  #identifier: number;
  #waiter: ((datagram: Buffer) => void) | undefined;

  private constructor(socket: dgram.Socket, options: RadiusTestClientOptions) {
    this.#socket = socket;
    this.port = options.port;
    this.secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    this.#identifier = options.firstIdentifier ?? 0;
    this.#messageAuthenticatorFirst = options.messageAuthenticatorFirst ?? true;
    socket.on('message', (datagram, from) => {
      if (from.port !== this.port) return; // not from the server under test
      const waiter = this.#waiter;
      if (waiter === undefined) this.unexpected.push(datagram);
      else waiter(datagram);
    });
  }

  /** Binds a socket on 127.0.0.1 for talking to the server at `options.port`. */
  static async open(options: RadiusTestClientOptions): Promise<RadiusTestClient> {
    const socket = await bindLoopback();
    return new RadiusTestClient(socket, options);
  }

  /** The local UDP port requests leave from. */
  get localPort(): number {
    return (this.#socket.address() as AddressInfo).port;
  }

  /** Takes the next RADIUS Identifier (+1 per request, modulo 256). */
  nextIdentifier(): number {
    const identifier = this.#identifier;
    this.#identifier = (identifier + 1) & 0xff;
    return identifier;
  }

  /**
   * Encodes an Access-Request with Message-Authenticator first and a random Request
   * Authenticator. `identifier` defaults to {@link nextIdentifier}.
   */
  encodeAccessRequest(attributes: readonly RadiusAttribute[], identifier: number = this.nextIdentifier()): Buffer {
    return encodeRequest({ code: PacketCode.AccessRequest, identifier, attributes, secret: this.secret });
  }

  /** Encodes and sends an Access-Request; resolves with the verified reply. */
  async exchange(attributes: readonly RadiusAttribute[], identifier?: number): Promise<RadiusExchange> {
    return this.exchangeEncoded(this.encodeAccessRequest(attributes, identifier));
  }

  /** Sends an Access-Request encoded by {@link encodeAccessRequest}; resolves with the verified reply. */
  async exchangeEncoded(request: Buffer): Promise<RadiusExchange> {
    const decoded = decodePacket(request);
    assert.ok(decoded.ok, 'the codec decodes what it encodes');
    const reply = await this.send(request);
    return { request, requestPacket: decoded.packet, requestAuthenticator: decoded.packet.authenticator, reply };
  }

  /**
   * Sends an encoded request (new, or a retransmission of an earlier one byte for byte) and
   * resolves with its reply, verified by {@link verifyAccessReply} against the request's own
   * Identifier and Authenticator. Rejects on timeout or on any failed check.
   */
  async send(request: Buffer): Promise<RadiusPacket> {
    assert.ok(request.length >= 20, 'a request has a 20-octet header');
    const datagram = await this.sendRaw(request, this.#timeoutMs);
    if (datagram === undefined) throw new Error(`no reply to request ${request[1]} within ${this.#timeoutMs} ms`);
    const sent = { identifier: request[1]!, authenticator: request.subarray(4, 20) };
    return verifyAccessReply(datagram, sent, this.secret, this.#messageAuthenticatorFirst);
  }

  /** Sends any bytes; resolves with the first datagram the server sends back, or undefined after `timeoutMs`. */
  async sendRaw(bytes: Buffer, timeoutMs: number = NO_REPLY_WINDOW_MS): Promise<Buffer | undefined> {
    assert.equal(this.#waiter, undefined, 'one operation at a time on a RadiusTestClient');
    const reply = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.#waiter = (datagram) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(datagram);
      };
    });
    await sendTo(this.#socket, bytes, this.port);
    return reply;
  }

  /**
   * Sends `bytes` without waiting for an answer, e.g. a retransmission while the original is
   * awaited; a reply that arrives while no operation waits lands in {@link unexpected}.
   */
  async sendCopy(bytes: Buffer): Promise<void> {
    await sendTo(this.#socket, bytes, this.port);
  }

  /** Sends `bytes` and rejects if the server answers within `windowMs` (300 ms by default). */
  async expectNoReply(bytes: Buffer, windowMs: number = NO_REPLY_WINDOW_MS): Promise<void> {
    const datagram = await this.sendRaw(bytes, windowMs);
    if (datagram !== undefined) throw new Error(`expected no reply, got code ${datagram[0]} (${datagram.length} octets)`);
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}

/** Options of {@link sendAccessRequest}. */
export interface SendAccessRequestOptions {
  /** The server's UDP port on 127.0.0.1. */
  readonly port: number;
  /** The shared secret. */
  readonly secret: string | Buffer;
  /** Attributes in order, without Message-Authenticator (the encoder puts it first). */
  readonly attributes: readonly RadiusAttribute[];
  /** The RADIUS Identifier; 0 by default. */
  readonly identifier?: number;
  /** How long to wait for the reply; 5000 ms by default. */
  readonly timeoutMs?: number;
}

/**
 * Sends one Access-Request from a fresh socket and resolves with the verified reply (see
 * {@link verifyAccessReply}); rejects on timeout or a failed check. For several requests of one
 * conversation, or for retransmissions, use a {@link RadiusTestClient}.
 */
export async function sendAccessRequest(options: SendAccessRequestOptions): Promise<RadiusPacket> {
  const client = await RadiusTestClient.open({
    port: options.port,
    secret: options.secret,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  try {
    return (await client.exchange(options.attributes, options.identifier ?? 0)).reply;
  } finally {
    await client.close();
  }
}

/**
 * Sends any bytes to the server from a fresh socket; resolves with the first datagram that comes
 * back within `timeoutMs` (300 ms by default), or undefined.
 */
export async function sendRaw(port: number, bytes: Buffer, timeoutMs: number = NO_REPLY_WINDOW_MS): Promise<Buffer | undefined> {
  const client = await RadiusTestClient.open({ port, secret: Buffer.alloc(0) });
  try {
    return await client.sendRaw(bytes, timeoutMs);
  } finally {
    await client.close();
  }
}

/** Sends any bytes from a fresh socket and rejects if the server answers within `windowMs` (300 ms by default). */
export async function expectNoReply(port: number, bytes: Buffer, windowMs: number = NO_REPLY_WINDOW_MS): Promise<void> {
  const datagram = await sendRaw(port, bytes, windowMs);
  if (datagram !== undefined) throw new Error(`expected no reply, got code ${datagram[0]} (${datagram.length} octets)`);
}

async function bindLoopback(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, LOOPBACK);
  await once(socket, 'listening'); // rejects on 'error'
  return socket;
}

async function sendTo(socket: dgram.Socket, bytes: Buffer, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.send(bytes, port, LOOPBACK, (error) => (error ? reject(error) : resolve()));
  });
}
