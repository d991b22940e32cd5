/**
 * A generic identity provider: any HTTP service that answers the webhook contract below, for
 * directories the server has no client for (an HR system, an asset database, a small script).
 */
import { field, requestJson } from './http-json.ts';
import { ProviderFailure, type IdentityAnswer, type IdentityProvider, type IdentityQuery } from './provider.ts';

/** An HTTP/JSON webhook. */
export interface WebhookOptions {
  /** The configured name, for logs and metrics. */
  readonly name: string;
  /** The endpoint; every lookup is a POST to it. */
  readonly url: string;
  /** Sent with every request, typically `authorization: Bearer <secret>`; values are secrets. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Asks a webhook whether a user or device is active.
 *
 * The contract:
 *
 * - Request: `POST <url>` with the configured headers, `content-type: application/json`,
 *   `accept: application/json` and the body `{"kind": "user" | "device", "id": "<key>",
 *   "groups": true | false}`. `groups: false` means the groups are not needed and may be left
 *   out of the answer.
 * - Answer: HTTP 200 with `{"status": "active" | "disabled" | "not-found",
 *   "groups"?: ["<group>", ...], "detail"?: "<why disabled>"}`. `groups` defaults to none,
 *   `detail` (shown in logs for a disabled identity) to `disabled`; both are ignored for
 *   `not-found`. Other members are ignored.
 * - HTTP 404 also means `not-found`, so the URL must name the endpoint exactly: a wrong path
 *   on a server that answers 404 makes every identity unknown.
 * - Failures: 401 / 403 are `auth-failed`, 429 is `rate-limited` (its `Retry-After` lengthens the
 *   cooldown), other statuses are `http-error`, and a 200 whose body breaks the shape above
 *   (another status, `groups` not an array of strings, `detail` not a string) is `bad-response`.
 *   The server's timeout, cooldown and fail-open / fail-closed settings decide what follows.
 */
export class WebhookProvider implements IdentityProvider {
  readonly name: string;
  readonly #url: string;
  readonly #origin: string;
  readonly #headers: Readonly<Record<string, string>>;

  /** Throws a `TypeError` when `url` is not a URL. */
  constructor(options: WebhookOptions) {
    this.name = options.name;
    this.#url = options.url;
    // Messages name the origin only: the path or query may hold a secret.
    this.#origin = new URL(options.url).origin;
    this.#headers = options.headers;
  }

  /** Posts the query and reads the answer; see the class comment for the contract. */
  async lookup(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer> {
    const response = await requestJson({
      url: this.#url,
      method: 'POST',
      headers: this.#headers,
      json: { kind: query.kind, id: query.id, groups: query.groups },
      signal,
    });
    if (response.status === 404) return { status: 'not-found' };
    if (response.status !== 200) throw this.#badResponse(`status ${response.status}`);
    const status = field(response.body, 'status');
    const groups = field(response.body, 'groups') ?? [];
    const detail = field(response.body, 'detail');
    if (!isStringArray(groups)) throw this.#badResponse('"groups" that is not an array of strings');
    if (detail !== undefined && typeof detail !== 'string') throw this.#badResponse('"detail" that is not a string');
    switch (status) {
      case 'active':
        return { status, groups };
      case 'disabled':
        return { status, groups, detail: detail === undefined || detail === '' ? 'disabled' : detail };
      case 'not-found':
        return { status };
      default:
        // The value is not quoted: the body is the webhook's and may hold anything.
        throw this.#badResponse('no "status" of active, disabled or not-found');
    }
  }

  #badResponse(what: string): ProviderFailure {
    return new ProviderFailure('bad-response', `${this.#origin} answered ${what}`);
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item: unknown) => typeof item === 'string');
}
