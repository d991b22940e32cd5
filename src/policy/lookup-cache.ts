/**
 * Remote answers reused for a while (ARCHITECTURE habit 8, after panva/jose `jwks/remote.ts`):
 * one load in flight per key, shared by every caller that asks meanwhile; each answer kept for the
 * lifetime the loader gives it; a deadline on every load; after a failure, a cooldown per origin
 * during which loads fail at once instead of piling onto a service that is down or rate-limiting.
 */

/** A loaded value and how long it may be reused (0: not kept). */
export interface Loaded<V> {
  readonly value: V;
  readonly ttlMs: number;
}

/** An answer and where it came from, for the decision log. */
export interface CachedAnswer<V> {
  readonly value: V;
  readonly source: 'cache' | 'live';
  /** Time spent waiting for it (0 from the cache). */
  readonly latencyMs: number;
}

/**
 * A load that failed, timed out, or was not tried because its origin is cooling down. Loaders
 * throw it (or a subclass, such as an identity provider's failure) to name their reason.
 */
export class LoadFailure extends Error {
  /** `timeout`, `cooldown`, or the loader's own reason. */
  readonly reason: string;
  /** The origin asks for this long without requests (HTTP 429 Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(reason: string, message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LoadFailure';
    this.reason = reason;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Settings of a {@link LookupCache}. */
export interface LookupCacheOptions {
  /** Entries kept; the oldest goes first. */
  readonly maxEntries: number;
  /** Deadline of one load, passed to the loader as an abort signal and enforced here too. */
  readonly timeoutMs: number;
  /** After a failed load, no load for the same origin for this long (or the failure's retryAfterMs if longer). */
  readonly cooldownMs: number;
  readonly now: () => number;
}

/** A bounded cache of remote answers. */
export class LookupCache<V> {
  readonly #options: LookupCacheOptions;
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #inFlight = new Map<string, Promise<V>>();
  readonly #coolingUntil = new Map<string, { until: number; failure: LoadFailure }>();
  #hits = 0;
  #misses = 0;

  constructor(options: LookupCacheOptions) {
    this.#options = options;
  }

  /** Answers served from memory and loads made, since start. */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /**
   * The value for `key`: from memory while it lives, else from `load` (shared with concurrent
   * callers). Rejects with a {@link LoadFailure}, and only with one, when the load fails, times
   * out, or `origin` is cooling down after an earlier failure.
   */
  async get(key: string, origin: string, load: (signal: AbortSignal) => Promise<Loaded<V>>): Promise<CachedAnswer<V>> {
    const now = this.#options.now();
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (now < entry.expiresAt) {
        this.#hits += 1;
        return { value: entry.value, source: 'cache', latencyMs: 0 };
      }
      this.#entries.delete(key);
    }
    const started = now;
    const pending = this.#inFlight.get(key) ?? this.#start(key, origin, load);
    const value = await pending;
    return { value, source: 'live', latencyMs: this.#options.now() - started };
  }

  /** Forgets everything held (not the loads in flight). */
  clear(): void {
    this.#entries.clear();
    this.#coolingUntil.clear();
  }

  #start(key: string, origin: string, load: (signal: AbortSignal) => Promise<Loaded<V>>): Promise<V> {
    const cooling = this.#coolingUntil.get(origin);
    if (cooling !== undefined) {
      if (this.#options.now() < cooling.until) {
        return Promise.reject(new LoadFailure('cooldown', `not asked: cooling down after ${cooling.failure.reason} (${cooling.failure.message})`));
      }
      this.#coolingUntil.delete(origin);
    }
    this.#misses += 1;
    const promise = this.#load(load).then(
      (loaded) => {
        if (loaded.ttlMs > 0) this.#store(key, loaded.value, this.#options.now() + loaded.ttlMs);
        return loaded.value;
      },
      (error: unknown) => {
        const failure = toLoadFailure(error);
        const pause = Math.max(this.#options.cooldownMs, failure.retryAfterMs ?? 0);
        if (pause > 0) this.#coolingUntil.set(origin, { until: this.#options.now() + pause, failure });
        throw failure;
      },
    );
    this.#inFlight.set(key, promise);
    const forget = (): void => {
      this.#inFlight.delete(key);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Runs the loader under the deadline, whether or not it honours its signal. */
  #load(load: (signal: AbortSignal) => Promise<Loaded<V>>): Promise<Loaded<V>> {
    const { timeoutMs } = this.#options;
    const controller = new AbortController();
    return new Promise<Loaded<V>>((resolve, reject) => {
      const timer = setTimeout(() => {
        controller.abort();
        reject(new LoadFailure('timeout', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      load(controller.signal).then(
        (loaded) => {
          clearTimeout(timer);
          resolve(loaded);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(controller.signal.aborted ? new LoadFailure('timeout', `no answer within ${timeoutMs} ms`) : (error as Error));
        },
      );
    });
  }

  #store(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    // Map order is insertion order: the first key is the oldest.
    while (this.#entries.size > this.#options.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}

/** A loader's failure as it is: anything else it threw (a bug, a library error) as reason `error`. */
function toLoadFailure(error: unknown): LoadFailure {
  if (error instanceof LoadFailure) return error;
  return new LoadFailure('error', error instanceof Error ? error.message : String(error), { cause: error });
}
