/**
 * Ports for state that outlives one request. Adapters: in memory (the default) and, later,
 * Redis; every entry has an explicit time to live (ARCHITECTURE habit 9).
 */

/** Resumable TLS sessions by session ID (RFC 5246 §7.4.1.2), written only after a full success. */
export interface TlsSessionStore {
  /** The serialized session, or undefined when unknown or expired. */
  get(sessionId: string): Promise<Buffer | undefined>;
  /** Stores a serialized session for `ttlSeconds`. */
  set(sessionId: string, session: Buffer, ttlSeconds: number): Promise<void>;
}
