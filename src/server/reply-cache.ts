/**
 * Duplicate detection (RFC 5080 §2.2.2): a request with the same source address and port,
 * Identifier and Request Authenticator as one seen recently is a retransmission. While the
 * original is being handled the copy is dropped; afterwards the cached reply is sent again.
 * The server never retransmits on its own: that is the NAS's job.
 */

/** How a request relates to the ones seen recently. */
export type DuplicateCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'answered'; readonly reply: Buffer };

type Entry = { state: 'in-progress'; expires: number } | { state: 'answered'; reply: Buffer; expires: number };

/** Replies of recent requests, kept for a fixed time. */
export class ReplyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #lifetimeMs: number;

  /** @param lifetimeMs how long an answered request is remembered (FreeRADIUS `cleanup_delay`). */
  constructor(lifetimeMs: number) {
    this.#lifetimeMs = lifetimeMs;
  }

  /** The key of a request: source, Identifier, Request Authenticator. */
  static key(address: string, port: number, identifier: number, authenticator: Buffer): string {
    return `${address}|${port}|${identifier}|${authenticator.toString('base64')}`;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Looks a request up; a new one is marked in progress. */
  check(key: string, now: number): DuplicateCheck {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.expires > now) {
      return entry.state === 'answered' ? { kind: 'answered', reply: entry.reply } : { kind: 'in-progress' };
    }
    // An in-progress mark outlives any handling: a request whose handling never ended is forgotten.
    this.#entries.set(key, { state: 'in-progress', expires: now + this.#lifetimeMs });
    return { kind: 'new' };
  }

  /** Records the reply of a request marked in progress. */
  answer(key: string, reply: Buffer, now: number): void {
    this.#entries.set(key, { state: 'answered', reply, expires: now + this.#lifetimeMs });
  }

  /** Forgets a request that got no reply, so that a retransmission is handled afresh. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  /** Removes expired entries; call from a coarse timer. */
  sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expires <= now) this.#entries.delete(key);
    }
  }
}
