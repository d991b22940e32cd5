/**
 * OAuth2 access tokens for the providers (RFC 6749 §4.4 client credentials, RFC 7523 JWT
 * bearer grant): fetched on first use, shared by concurrent lookups (one request in flight),
 * reused until shortly before they expire, dropped when the provider refuses them.
 */
import { field, requestJson, type JsonRequest, type JsonResponse } from './http-json.ts';
import { ProviderFailure } from './provider.ts';

/** Renew this long before `expires_in` runs out, so a token never expires mid-lookup. */
const RENEW_BEFORE_MS = 60_000;

/** Lifetime assumed when the token endpoint gives no `expires_in`. */
const DEFAULT_LIFETIME_MS = 300_000;

/** A token endpoint request: URL and form fields, built fresh each time (a JWT assertion expires). */
export type TokenRequest = () => { readonly url: string; readonly form: Readonly<Record<string, string>> };

/** A cached bearer token for one provider. */
export class TokenSource {
  readonly #request: TokenRequest;
  readonly #now: () => number;
  #token: { value: string; renewAt: number } | undefined;
  #inFlight: Promise<string> | undefined;

  constructor(request: TokenRequest, now: () => number = Date.now) {
    this.#request = request;
    this.#now = now;
  }

  /** A valid access token; rejects with a {@link ProviderFailure} when the endpoint refuses. */
  async token(signal: AbortSignal): Promise<string> {
    if (this.#token !== undefined && this.#now() < this.#token.renewAt) return this.#token.value;
    // One token request in flight: concurrent lookups wait for it. A lookup's own timeout still
    // applies to it through Promise.race with its signal.
    this.#inFlight ??= this.#fetch(signal).finally(() => {
      this.#inFlight = undefined;
    });
    return raceAbort(this.#inFlight, signal);
  }

  /** Forgets the token, after the API refused it (401): the next lookup fetches a new one. */
  invalidate(): void {
    this.#token = undefined;
  }

  /**
   * Sends `request` with the access token as a bearer token (RFC 6750 §2.1). A 401 means the API
   * refused the token (RFC 6750 §3.1 `invalid_token`: expired early, revoked, keys rotated): it
   * is dropped and the request is sent once more with a fresh one; a second 401 is `auth-failed`.
   */
  async request(request: JsonRequest): Promise<JsonResponse> {
    const refused = await this.token(request.signal);
    const first = await requestJson(this.#withBearer(request, refused, [401]));
    if (first.status !== 401) return first;
    // Drop only the refused token: a concurrent lookup may already have fetched a new one.
    if (this.#token?.value === refused) this.#token = undefined;
    return requestJson(this.#withBearer(request, await this.token(request.signal), []));
  }

  #withBearer(request: JsonRequest, token: string, returnStatuses: readonly number[]): JsonRequest {
    return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` }, returnStatuses: [...(request.returnStatuses ?? []), ...returnStatuses] };
  }

  async #fetch(signal: AbortSignal): Promise<string> {
    const { url, form } = this.#request();
    // RFC 6749 §5.2: a refused client or grant is a 400 (or 401) with an `error` code.
    const response = await requestJson({ url, form, signal, returnStatuses: [400] });
    const accessToken = field(response.body, 'access_token');
    const expiresIn = field(response.body, 'expires_in');
    if (response.status !== 200 || typeof accessToken !== 'string' || accessToken === '') {
      const error = field(response.body, 'error');
      const code = typeof error === 'string' && /^[\x20-\x7e]{1,64}$/.test(error) ? `, error ${error}` : '';
      throw new ProviderFailure('auth-failed', `token endpoint ${new URL(url).origin} gave no access token (HTTP ${response.status}${code})`);
    }
    const lifetimeMs = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_LIFETIME_MS;
    this.#token = { value: accessToken, renewAt: this.#now() + Math.max(0, lifetimeMs - RENEW_BEFORE_MS) };
    return accessToken;
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new ProviderFailure('timeout', 'token request timed out'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ProviderFailure('timeout', 'token request timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
