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

/** Handshake message types whose body starts with version, random and session ID (RFC 5246 §7.4). */
export const HelloType = { ClientHello: 1, ServerHello: 2 } as const;
/** One of {@link HelloType}'s values. */
export type HelloType = (typeof HelloType)[keyof typeof HelloType];

/** The fields of a hello this server uses. */
export interface HelloFields {
  readonly random: Buffer;
  /** Empty when the hello carries none. */
  readonly sessionId: Buffer;
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
  };
}
