/**
 * The one HTTP/JSON exchange the identity providers make: global `fetch`, the caller's abort
 * signal, a body size cap, and HTTP failures turned into {@link ProviderFailure}s (429 with its
 * `Retry-After`, RFC 9110 §10.2.3). 404 is returned to the provider, which knows what it means.
 */
import { ProviderFailure } from './provider.ts';

/** Largest JSON body read from a provider (a page of groups is a few tens of KB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One request. */
export interface JsonRequest {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as `application/x-www-form-urlencoded` (OAuth2 token requests, RFC 6749 §4.4.2). */
  readonly form?: Readonly<Record<string, string>>;
  /** Sent as `application/json`. */
  readonly json?: unknown;
  /**
   * Error statuses resolved with their body instead of rejected, for a caller that handles them
   * (a 401 that a fresh token may cure, an OAuth2 400 error answer, RFC 6749 §5.2).
   */
  readonly returnStatuses?: readonly number[];
  readonly signal: AbortSignal;
}

/** A 2xx, 404 or `returnStatuses` response with its parsed body (undefined when empty). */
export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/**
 * Sends the request and parses the JSON answer. 2xx, 404 and `returnStatuses` resolve; 401/403 reject as
 * `auth-failed`, 429 as `rate-limited` with the provider's delay, other statuses as `http-error`,
 * an abort as `timeout`, a transport error as `network`, a body that is not JSON as `bad-response`.
 */
export async function requestJson(request: JsonRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  let body: string | undefined;
  if (request.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(request.form).toString();
  } else if (request.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.json);
  }
  const host = safeOrigin(request.url);
  let response: Response;
  try {
    response = await fetch(request.url, { method: request.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, signal: request.signal, redirect: 'error' });
  } catch (error) {
    throw transportFailure(error, request.signal, host);
  }
  const text = await readCapped(response, request.signal, host);
  if (request.returnStatuses?.includes(response.status) !== true) {
    if (response.status === 429) {
      throw new ProviderFailure('rate-limited', `${host} answered 429`, { retryAfterMs: retryAfterMs(response.headers, Date.now()) });
    }
    if (response.status === 401 || response.status === 403) throw new ProviderFailure('auth-failed', `${host} answered ${response.status}`);
    if (response.status !== 404 && (response.status < 200 || response.status > 299)) {
      throw new ProviderFailure('http-error', `${host} answered ${response.status}`);
    }
  }
  if (text === '') return { status: response.status, headers: response.headers, body: undefined };
  try {
    return { status: response.status, headers: response.headers, body: JSON.parse(text) as unknown };
  } catch (error) {
    throw new ProviderFailure('bad-response', `${host} answered ${response.status} with a body that is not JSON`, { cause: error });
  }
}

/**
 * The delay a 429 asks for: `Retry-After` in seconds or as an HTTP date (RFC 9110 §10.2.3), or
 * Okta's `X-Rate-Limit-Reset` (epoch seconds). Undefined when none is given or it cannot be read.
 */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = headers.get('x-rate-limit-reset')?.trim();
  if (reset !== undefined && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now);
  return undefined;
}

/** A field of a JSON object, or undefined when the value is not an object. */
export function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * Pages of one collection read at most per lookup (with page sizes of 200 to 999, thousands of
 * groups). Past it the lookup fails rather than answering with part of the collection: a rule on
 * a group from a page not read would be evaluated wrongly.
 */
export const MAX_PAGES = 20;

/** One page of a collection: its items and the cursor of the next page (URL, page token), if any. */
export interface Page<T, C> {
  readonly items: readonly T[];
  readonly next: C | undefined;
}

/**
 * Reads a paged collection from `first` on, one page at a time, at most {@link MAX_PAGES} pages
 * (then rejects with `bad-response`). `readPage` answers undefined when the collection's owner is
 * gone (a 404 between two requests); so does this function then.
 */
export async function readPages<T, C>(first: C, what: string, readPage: (cursor: C) => Promise<Page<T, C> | undefined>): Promise<T[] | undefined> {
  const items: T[] = [];
  let cursor: C | undefined = first;
  for (let pages = 0; cursor !== undefined; pages += 1) {
    if (pages === MAX_PAGES) throw new ProviderFailure('bad-response', `more than ${MAX_PAGES} pages of ${what}`);
    const page: Page<T, C> | undefined = await readPage(cursor);
    if (page === undefined) return undefined;
    items.push(...page.items);
    cursor = page.next;
  }
  return items;
}

/** A configured base URL without trailing slashes, so that API paths join it with one `/`. */
export function baseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * An identifier as one URL path segment, percent-encoded (RFC 3986 §3.3), or undefined when no
 * encoding can keep it one segment: the empty string would name the collection, and `.` / `..`
 * (also as `%2e`) are dot segments that URL parsers resolve away (RFC 3986 §5.2.4, WHATWG URL).
 * No account has such a name, so providers answer `not-found` for it without a request.
 */
export function pathSegment(id: string): string | undefined {
  return id === '' || id === '.' || id === '..' ? undefined : encodeURIComponent(id);
}

/**
 * A paging link (`@odata.nextLink`, an RFC 8288 `Link: rel="next"`) checked to point at the same
 * origin as the API: the next request carries the credentials, which must not go anywhere else.
 * Rejects with `bad-response` otherwise.
 */
export function samePageOrigin(next: string, apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(next, apiUrl);
  } catch (error) {
    throw new ProviderFailure('bad-response', `${safeOrigin(apiUrl)} sent a next-page link that is not a URL`, { cause: error });
  }
  if (url.origin !== new URL(apiUrl).origin) throw new ProviderFailure('bad-response', `${safeOrigin(apiUrl)} sent a next-page link to ${url.origin}`);
  return url.href;
}

/** Scheme, host and port of a URL, for messages: paths and queries may hold identifiers. */
function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'provider';
  }
}

function transportFailure(error: unknown, signal: AbortSignal, host: string): ProviderFailure {
  if (signal.aborted) return new ProviderFailure('timeout', `${host} did not answer in time`, { cause: error });
  return new ProviderFailure('network', `${host} unreachable: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`, { cause: error });
}

async function readCapped(response: Response, signal: AbortSignal, host: string): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel();
        throw new ProviderFailure('bad-response', `${host} sent more than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ProviderFailure) throw error;
    throw transportFailure(error, signal, host);
  }
  return Buffer.concat(chunks).toString('utf8');
}
