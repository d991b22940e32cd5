/**
 * Reads the session ID of a plaintext TLS ClientHello, and whether it offers TLS 1.3.
 *
 * The TLS 1.2 session a peer wants to resume (RFC 5246 §7.4.1.2) has to be fetched from the
 * session store before OpenSSL reads the ClientHello, because the store answers asynchronously.
 */

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const VERSION_BYTES = 2;
const RANDOM_BYTES = 32;
const MAX_SESSION_ID_BYTES = 32;
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §4.2.1. */
const SUPPORTED_VERSIONS_EXTENSION = 0x002b;
const TLS13_VERSION = 0x0304;

/** The fields of a ClientHello this server uses. */
export interface ClientHelloFields {
  /** Empty when the hello carries none. */
  readonly sessionId: Buffer;
  /** The supported_versions extension lists TLS 1.3 (RFC 8446 §4.2.1), within the first record. */
  readonly offersTls13: boolean;
}

/**
 * Reads the ClientHello at the start of `flight`, or undefined when the flight does not begin
 * with a plaintext handshake record holding one. The session ID is a copy.
 */
export function readClientHello(flight: Buffer): ClientHelloFields | undefined {
  const sessionIdAt = RECORD_HEADER + HANDSHAKE_HEADER + VERSION_BYTES + RANDOM_BYTES + 1;
  if (flight.length < sessionIdAt) return undefined;
  if (flight[0] !== CONTENT_TYPE_HANDSHAKE || flight[RECORD_HEADER] !== HANDSHAKE_CLIENT_HELLO) return undefined;
  const sessionIdLength = flight[sessionIdAt - 1] ?? 0;
  if (sessionIdLength > MAX_SESSION_ID_BYTES || flight.length < sessionIdAt + sessionIdLength) return undefined;
  return {
    sessionId: Buffer.from(flight.subarray(sessionIdAt, sessionIdAt + sessionIdLength)),
    offersTls13: listsTls13(flight, sessionIdAt + sessionIdLength),
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
