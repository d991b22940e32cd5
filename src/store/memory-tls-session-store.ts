/**
 * The in-memory {@link TlsSessionStore}: entries expire after their TTL, and past the size cap the
 * oldest entry makes room (a serialized session with its client certificate is about 1-2 KB).
 */
import type { TlsSessionStore } from './ports.ts';

/** In-process resumable TLS sessions. */
export class MemoryTlsSessionStore implements TlsSessionStore {
  readonly #entries = new Map<string, { session: Buffer; expires: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Entries held now, expired ones included until they are read or pushed out. */
  get size(): number {
    return this.#entries.size;
  }

  async get(sessionId: string): Promise<Buffer | undefined> {
    const entry = this.#entries.get(sessionId);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(sessionId);
      return undefined;
    }
    return entry.session;
  }

  async set(sessionId: string, session: Buffer, ttlSeconds: number): Promise<void> {
    this.#entries.delete(sessionId);
    // Map keeps insertion order: the first key is the oldest entry.
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(sessionId, { session, expires: this.#now() + ttlSeconds * 1000 });
  }
}
