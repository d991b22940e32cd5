/**
 * CRLs fetched from the http(s) URLs of a certificate's CRL Distribution Points (RFC 5280
 * §4.2.1.13, §5), verified with the issuing CA's key, held in memory and refreshed before their
 * nextUpdate. One fetch in flight per URL, a timeout and a body cap on each, a cooldown after a
 * failure, and a bound on the URLs tracked (panva/jose `jwks/remote.ts`).
 */
import type { X509Certificate } from 'node:crypto';
import { x509 } from '../pki/x509.ts';
import { crlSigner, derBlocks, isRevoked, loadedCrl, parseCrl, type LoadedCrl } from './crl-set.ts';

/**
 * The http(s) URIs of the certificate's CRL Distribution Points (fullName
 * uniformResourceIdentifier; RFC 5280 §4.2.1.13), in the certificate's order, without duplicates.
 * Empty when the extension is absent or malformed.
 */
export function crlDistributionPoints(certificate: X509Certificate): string[] {
  const urls = new Set<string>();
  try {
    const extension = new x509.X509Certificate(certificate.raw).getExtension(x509.CRLDistributionPointsExtension);
    for (const point of extension?.distributionPoints ?? []) {
      // RFC 5280 §4.2.1.13: a point with `reasons` publishes a CRL that covers only those reasons,
      // one with `cRLIssuer` an indirect CRL signed by another authority. Neither answers for every
      // revocation of this certificate by its issuer, so neither is used.
      if (point.reasons !== undefined || point.cRLIssuer !== undefined) continue;
      for (const name of point.distributionPoint?.fullName ?? []) {
        const uri = name.uniformResourceIdentifier;
        if (uri !== undefined && isHttpUrl(uri)) urls.add(uri);
      }
    }
  } catch {
    return [];
  }
  return [...urls];
}

/** Limits and timings of {@link RemoteCrls}. */
export interface RemoteCrlSettings {
  /** Time allowed for one fetch, body included (`AbortSignal.timeout`). */
  readonly timeoutMs: number;
  /** Largest CRL body accepted, in bytes. */
  readonly maxBytes: number;
  /** A held CRL is refetched this long before its nextUpdate. */
  readonly refreshMarginMs: number;
  /** Refetch period of a CRL without nextUpdate, and upper bound of any refresh period. */
  readonly maxAgeMs: number;
  /**
   * After a fetch, no new fetch of that URL on demand for this long; a failed background refresh
   * is retried after it. Answers meanwhile come from the last good CRL, or are 'cooldown'.
   */
  readonly failureCooldownMs: number;
  /** Bound on the distinct URLs tracked; the least recently used one is forgotten first. */
  readonly maxUrls: number;
}

/** Why no CRL answered for a certificate. */
export type RemoteCrlUnavailableReason =
  | 'no-url'
  | 'http-error'
  | 'timeout'
  | 'network'
  | 'too-large'
  | 'unparseable'
  | 'wrong-issuer'
  | 'bad-signature'
  | 'cooldown';

/** Why a fetch brought no CRL: 'rollback' when it was older than the one held (which stays). */
export type RemoteCrlFetchFailure = Exclude<RemoteCrlUnavailableReason, 'no-url' | 'cooldown'> | 'rollback';

/** The answer of {@link RemoteCrls.status}. */
export type RemoteCrlStatus =
  | {
      readonly status: 'revoked' | 'not-revoked';
      /** The URL whose CRL answered. */
      readonly url: string;
      readonly thisUpdate: Date;
      readonly nextUpdate: Date | undefined;
      /** The CRL is past its nextUpdate and no newer one could be fetched: the caller's policy decides. */
      readonly stale: boolean;
      /** Answered from a CRL held before the call, without waiting for a fetch. */
      readonly cached: boolean;
    }
  | {
      readonly status: 'unavailable';
      /** The first URL tried, undefined when there was none. */
      readonly url: string | undefined;
      readonly reason: RemoteCrlUnavailableReason;
      readonly detail: string;
    };

/** What {@link RemoteCrls} reports for logs and metrics. */
export type RemoteCrlEvent =
  | {
      readonly kind: 'fetched';
      readonly url: string;
      readonly thisUpdate: Date;
      readonly nextUpdate: Date | undefined;
      /** Number of revoked serials listed. */
      readonly revoked: number;
      /** Duration of the fetch and the verification. */
      readonly ms: number;
    }
  | { readonly kind: 'fetch-failed'; readonly url: string; readonly reason: RemoteCrlFetchFailure; readonly detail: string }
  | { readonly kind: 'stale'; readonly url: string; readonly nextUpdate: Date };

/** A verified CRL held for a URL. */
interface Held {
  readonly crl: LoadedCrl;
  readonly parsed: x509.X509Crl;
  /** The CA whose key verified it; refreshes are verified with it too. */
  readonly issuer: X509Certificate;
  /** Whether it was issued by each CA asked about it, by fingerprint (a re-issued CA keeps its key). */
  readonly signers: Map<string, Promise<'ok' | 'wrong-issuer' | 'bad-signature'>>;
  /** The 'stale' event was emitted for it. */
  staleReported: boolean;
}

/** What is known about one URL. */
interface Entry {
  readonly url: string;
  held: Held | undefined;
  inFlight: Promise<FetchOutcome> | undefined;
  /** No fetch on demand before this time (ms since the epoch). */
  retryAt: number;
  lastFailure: { readonly reason: RemoteCrlFetchFailure; readonly detail: string } | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** Why a download, or the CRL it brought, cannot be used. */
interface Failure<Reason extends RemoteCrlFetchFailure = Exclude<RemoteCrlFetchFailure, 'rollback'>> {
  readonly ok: false;
  readonly reason: Reason;
  readonly detail: string;
}

/** What one fetch leaves: a CRL to answer from (`fetched` by it, or kept from before), or why there is none. */
type FetchOutcome = { readonly ok: true; readonly held: Held; readonly fetched: boolean } | Failure;

/** A downloaded CRL, verified. */
type Obtained = { readonly ok: true; readonly held: Held } | Failure;

/** Shortest refresh period, so a CRL whose nextUpdate is near is not fetched in a loop. */
const MIN_REFRESH_MS = 1000;
/** Longest delay `setTimeout` honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** CRLs fetched from URLs, shared across configuration reloads (so a reload drops nothing). */
export class RemoteCrls {
  readonly #settings: RemoteCrlSettings;
  readonly #now: () => number;
  readonly #onEvent: (event: RemoteCrlEvent) => void;
  /** By URL, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  /** `deps.now` is the clock in ms since the epoch; `deps.onEvent` must not throw. */
  constructor(settings: RemoteCrlSettings, deps: { now(): number; onEvent?(event: RemoteCrlEvent): void }) {
    this.#settings = settings;
    this.#now = () => deps.now();
    this.#onEvent = (event) => deps.onEvent?.(event);
  }

  /**
   * Looks `serial` up on the CRL published at the first of `urls` that yields a CRL signed by
   * `issuer` (signature verified with issuer's key, CRL issuer name must equal the certificate
   * issuer's name). First use fetches (one fetch in flight per URL: concurrent callers share it);
   * later uses answer from memory. Never throws. When every URL fails, the answer is the first
   * URL's failure.
   */
  async status(urls: readonly string[], issuer: X509Certificate, serial: string): Promise<RemoteCrlStatus> {
    let first: RemoteCrlStatus | undefined;
    for (const url of new Set(urls)) {
      const answer: RemoteCrlStatus = isHttpUrl(url)
        ? await this.#lookup(url, issuer, serial)
        : { status: 'unavailable', url, reason: 'no-url', detail: 'not an http(s) URL' };
      if (answer.status !== 'unavailable') return answer;
      first ??= answer;
    }
    return first ?? { status: 'unavailable', url: undefined, reason: 'no-url', detail: 'no CRL distribution point URL' };
  }

  /** The CRLs held, for metrics (nextUpdate gauges) and logs. */
  get crls(): readonly LoadedCrl[] {
    return [...this.#entries.values()].flatMap((entry) => (entry.held === undefined ? [] : [entry.held.crl]));
  }

  /** Stops refresh timers. Lookups still answer, and fetch on demand, but nothing is refreshed. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
  }

  async #lookup(url: string, issuer: X509Certificate, serial: string): Promise<RemoteCrlStatus> {
    const entry = this.#touch(url);
    if (entry.held !== undefined && !this.#isStale(entry.held)) return this.#answer(entry.held, issuer, serial, true);
    // Nothing held, or past its nextUpdate: fetch, or join the fetch under way, unless cooling down.
    const pending = entry.inFlight ?? (this.#now() >= entry.retryAt ? this.#fetch(entry, issuer) : undefined);
    const outcome = pending === undefined ? undefined : await pending;
    if (outcome?.ok === true) return this.#answer(outcome.held, issuer, serial, !outcome.fetched);
    if (entry.held !== undefined) return this.#answer(entry.held, issuer, serial, true);
    if (outcome !== undefined) return { status: 'unavailable', url, reason: outcome.reason, detail: outcome.detail };
    const last = entry.lastFailure === undefined ? '' : `the last fetch failed (${entry.lastFailure.reason}: ${entry.lastFailure.detail}); `;
    return { status: 'unavailable', url, reason: 'cooldown', detail: `${last}no new fetch before ${new Date(entry.retryAt).toISOString()}` };
  }

  async #answer(held: Held, issuer: X509Certificate, serial: string, cached: boolean): Promise<RemoteCrlStatus> {
    const { crl } = held;
    const signer = await this.#signerCheck(held, issuer);
    if (signer !== 'ok') return { status: 'unavailable', url: crl.source, reason: signer, detail: signerDetail(signer, crl.issuerText) };
    return {
      status: isRevoked(crl, serial) ? 'revoked' : 'not-revoked',
      url: crl.source,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      stale: this.#isStale(held),
      cached,
    };
  }

  /** Whether the CRL held was issued by `issuer`, checked once per CA. */
  #signerCheck(held: Held, issuer: X509Certificate): Promise<'ok' | 'wrong-issuer' | 'bad-signature'> {
    let check = held.signers.get(issuer.fingerprint256);
    if (check === undefined) {
      check = crlSigner(held.parsed, [issuer]).then((signer) => (signer.ok ? 'ok' : signer.reason));
      held.signers.set(issuer.fingerprint256, check);
    }
    return check;
  }

  /** Past its nextUpdate; reports it once per CRL. */
  #isStale(held: Held): boolean {
    const { nextUpdate } = held.crl;
    // RFC 5280 §5.1.2.5: nextUpdate is the date by which the next CRL will be issued.
    if (nextUpdate === undefined || this.#now() <= nextUpdate.getTime()) return false;
    if (!held.staleReported) {
      held.staleReported = true;
      this.#onEvent({ kind: 'stale', url: held.crl.source, nextUpdate });
    }
    return true;
  }

  /** The entry of `url`, now the most recently used; forgets the least recently used beyond the bound. */
  #touch(url: string): Entry {
    const entry = this.#entries.get(url) ?? { url, held: undefined, inFlight: undefined, retryAt: 0, lastFailure: undefined, timer: undefined };
    this.#entries.delete(url);
    this.#entries.set(url, entry);
    for (const [key, old] of this.#entries) {
      if (this.#entries.size <= this.#settings.maxUrls) break;
      clearTimeout(old.timer);
      this.#entries.delete(key);
    }
    return entry;
  }

  /** Starts the one fetch of `entry`'s URL that concurrent lookups share. */
  #fetch(entry: Entry, requester: X509Certificate | undefined): Promise<FetchOutcome> {
    const pending = this.#refresh(entry, requester).finally(() => {
      entry.inFlight = undefined;
    });
    entry.inFlight = pending;
    return pending;
  }

  async #refresh(entry: Entry, requester: X509Certificate | undefined): Promise<FetchOutcome> {
    const { url } = entry;
    const started = this.#now();
    // The CA asking now, and the one that verified the CRL held (a renewed CA may sign with a new key).
    const candidates = [requester, entry.held?.issuer].filter(
      (ca, index, all): ca is X509Certificate => ca !== undefined && all.findIndex((other) => other?.fingerprint256 === ca.fingerprint256) === index,
    );
    const obtained = await this.#obtain(url, candidates);
    const now = this.#now();
    entry.retryAt = now + this.#settings.failureCooldownMs;
    const held = entry.held;
    if (!obtained.ok) {
      this.#failed(entry, obtained);
      return held === undefined ? obtained : { ok: true, held, fetched: false };
    }
    const { crl } = obtained.held;
    if (held !== undefined && crl.thisUpdate < held.crl.thisUpdate) {
      // No rollback: a replayed or misordered older CRL could hide a revocation.
      const detail = `thisUpdate ${crl.thisUpdate.toISOString()} is older than the held CRL's ${held.crl.thisUpdate.toISOString()}`;
      this.#failed(entry, { ok: false, reason: 'rollback', detail });
      return { ok: true, held, fetched: false };
    }
    entry.held = obtained.held;
    entry.lastFailure = undefined;
    this.#onEvent({ kind: 'fetched', url, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revoked: crl.revoked.size, ms: now - started });
    this.#schedule(entry, this.#refreshDelay(crl, now));
    return { ok: true, held: obtained.held, fetched: true };
  }

  /** Records a fetch that brought no usable CRL; when one is held, it stays and is refreshed after the cooldown. */
  #failed(entry: Entry, { reason, detail }: Failure<RemoteCrlFetchFailure>): void {
    entry.lastFailure = { reason, detail };
    this.#onEvent({ kind: 'fetch-failed', url: entry.url, reason, detail });
    if (entry.held !== undefined) this.#schedule(entry, Math.min(Math.max(this.#settings.failureCooldownMs, MIN_REFRESH_MS), MAX_TIMER_MS));
  }

  /** Downloads, parses and verifies the CRL at `url`; never throws. */
  async #obtain(url: string, candidates: readonly X509Certificate[]): Promise<Obtained> {
    const body = await download(url, this.#settings);
    if (!body.ok) return body;
    try {
      const blocks = derBlocks(body.data, 'X509 CRL');
      // RFC 5280 §4.2.1.13: an http URI points to a single DER-encoded CRL (RFC 2585); PEM is accepted too.
      const der = blocks.length === 1 ? blocks[0] : undefined;
      if (der === undefined) return { ok: false, reason: 'unparseable', detail: `the body holds ${blocks.length} CRLs, not one` };
      const parsed = parseCrl(der);
      if (parsed === undefined) return { ok: false, reason: 'unparseable', detail: 'not a CRL' };
      const unsupported = unsupportedCriticalExtension(parsed);
      if (unsupported !== undefined) {
        return { ok: false, reason: 'unparseable', detail: `critical extension ${unsupported} is not supported (RFC 5280 §5.2)` };
      }
      const signer = await crlSigner(parsed, candidates);
      if (!signer.ok) return { ok: false, reason: signer.reason, detail: signerDetail(signer.reason, parsed.issuer) };
      const signers = new Map([[signer.issuer.fingerprint256, Promise.resolve('ok' as const)]]);
      return { ok: true, held: { crl: loadedCrl(parsed, url, signer.issuer), parsed, issuer: signer.issuer, signers, staleReported: false } };
    } catch (error) {
      // The parser reads some fields lazily: a malformed entry surfaces here.
      return { ok: false, reason: 'unparseable', detail: error instanceof Error ? error.message : String(error) };
    }
  }

  #refreshDelay(crl: LoadedCrl, now: number): number {
    const { refreshMarginMs, maxAgeMs, failureCooldownMs } = this.#settings;
    if (crl.nextUpdate === undefined) return Math.min(maxAgeMs, MAX_TIMER_MS);
    const due = crl.nextUpdate.getTime() - refreshMarginMs - now;
    // Already within the margin: the publisher has nothing newer yet, so ask again after the cooldown.
    const delay = due > 0 ? Math.max(due, MIN_REFRESH_MS) : Math.max(failureCooldownMs, MIN_REFRESH_MS);
    return Math.min(delay, maxAgeMs, MAX_TIMER_MS);
  }

  /** Arms the refresh timer of an entry still tracked. */
  #schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.#closed || this.#entries.get(entry.url) !== entry) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.inFlight === undefined) void this.#fetch(entry, undefined);
    }, delayMs).unref();
  }
}

function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const { protocol } = new URL(text);
  return protocol === 'http:' || protocol === 'https:';
}

function signerDetail(reason: 'wrong-issuer' | 'bad-signature', crlIssuer: string): string {
  return reason === 'wrong-issuer'
    ? `CRL issuer "${crlIssuer}" is not the certificate's issuer`
    : `CRL signature does not verify with the key of "${crlIssuer}"`;
}

/**
 * Extensions that do not change which certificates a CRL lists, so they may be ignored even when
 * marked critical: cRLNumber (RFC 5280 §5.2.3), authorityKeyIdentifier (§5.2.1), and on entries
 * reasonCode (§5.3.1) and invalidityDate (§5.3.2).
 */
const IGNORABLE_EXTENSIONS: ReadonlySet<string> = new Set(['2.5.29.20', '2.5.29.35', '2.5.29.21', '2.5.29.24']);

/**
 * The first critical CRL or entry extension this reader does not process, such as
 * deltaCRLIndicator (RFC 5280 §5.2.4), issuingDistributionPoint (§5.2.5) or certificateIssuer
 * (§5.3.3). RFC 5280 §5.2, §5.3: a CRL with such an extension MUST NOT be used to determine the
 * status of certificates.
 */
function unsupportedCriticalExtension(crl: x509.X509Crl): string | undefined {
  const first = (extensions: readonly x509.Extension[]): string | undefined =>
    extensions.find((extension) => extension.critical && !IGNORABLE_EXTENSIONS.has(extension.type))?.type;
  return first(crl.extensions) ?? crl.entries.map((entry) => first(entry.extensions)).find((type) => type !== undefined);
}

type Download = { readonly ok: true; readonly data: Buffer } | Failure<'http-error' | 'timeout' | 'network' | 'too-large'>;

/** GETs `url` within the timeout, reading at most `maxBytes` of body; never throws. */
async function download(url: string, { timeoutMs, maxBytes }: RemoteCrlSettings): Promise<Download> {
  try {
    // RFC 2585 §3: the media type of a DER CRL.
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/pkix-crl' } });
    if (!response.ok) {
      await response.body?.cancel();
      return { ok: false, reason: 'http-error', detail: `HTTP ${response.status}` };
    }
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > maxBytes) {
      await response.body?.cancel();
      return { ok: false, reason: 'too-large', detail: `Content-Length ${declared} exceeds ${maxBytes} bytes` };
    }
    if (response.body === null) return { ok: true, data: Buffer.alloc(0) };
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      size += read.value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        return { ok: false, reason: 'too-large', detail: `body exceeds ${maxBytes} bytes` };
      }
      chunks.push(read.value);
    }
    return { ok: true, data: Buffer.concat(chunks, size) };
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') return { ok: false, reason: 'timeout', detail: `no complete answer within ${timeoutMs} ms` };
    return { ok: false, reason: 'network', detail: networkDetail(error) };
  }
}

/** `fetch failed` says little: the cause (ECONNREFUSED, other side closed, ...) says what. */
function networkDetail(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(cause instanceof Error)) return String(cause);
  const code = 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
  return `${code}${cause.message}`;
}
