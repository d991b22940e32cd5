/**
 * Reads the 32-byte random from a plaintext TLS ClientHello or ServerHello.
 *
 * Node exposes no handshake randoms, and RFC 5216 §2.3 builds the TLS 1.2 EAP Session-Id from
 * them, so they are read from the first plaintext handshake record of each side.
 */

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const VERSION_BYTES = 2;
const RANDOM_BYTES = 32;
const CONTENT_TYPE_HANDSHAKE = 22;

/** Handshake message types whose body starts with version and random (RFC 5246 §7.4). */
export const HelloType = { ClientHello: 1, ServerHello: 2 } as const;
/** One of {@link HelloType}'s values. */
export type HelloType = (typeof HelloType)[keyof typeof HelloType];

/**
 * Returns the random of the hello at the start of `flight`, or undefined when the flight does not
 * begin with a plaintext handshake record holding that hello.
 */
export function helloRandom(flight: Buffer, type: HelloType): Buffer | undefined {
  const offset = RECORD_HEADER + HANDSHAKE_HEADER + VERSION_BYTES;
  if (flight.length < offset + RANDOM_BYTES) return undefined;
  if (flight[0] !== CONTENT_TYPE_HANDSHAKE || flight[RECORD_HEADER] !== type) return undefined;
  return Buffer.from(flight.subarray(offset, offset + RANDOM_BYTES));
}
