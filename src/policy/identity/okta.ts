/**
 * Okta: users by id or login with their lifecycle `status`, the groups a user belongs to, and
 * devices by id. Authenticates with an API token (`SSWS`) or, as Okta recommends, as an OAuth 2.0
 * service app: client credentials with a `private_key_jwt` client assertion
 * (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/).
 */
import { randomUUID } from 'node:crypto';
import { baseUrl, field, pathSegment, readPages, requestJson, samePageOrigin, type JsonResponse } from './http-json.ts';
import { jwtAlgorithm, signJwt } from './jwt.ts';
import { ProviderFailure, type IdentityAnswer, type IdentityProvider, type IdentityQuery } from './provider.ts';
import { TokenSource } from './token-source.ts';

/** How the provider authenticates to Okta. */
export type OktaAuth =
  /** An API token, sent as `Authorization: SSWS <token>`; it acts with its admin's rights. */
  | { readonly kind: 'api-token'; readonly token: string }
  /**
   * An API service app: its client id and the private key (RSA or EC P-256, PEM) whose public
   * JWK is registered on the app, with that JWK's `kid` when the app has several keys.
   */
  | { readonly kind: 'oauth'; readonly clientId: string; readonly privateKeyPem: string; readonly keyId?: string };

/** How to reach one Okta org. */
export interface OktaOptions {
  /** The configured provider name, for logs and metrics. */
  readonly name: string;
  /** The org URL, e.g. `https://example.okta.com`. */
  readonly orgUrl: string;
  readonly auth: OktaAuth;
  /**
   * User statuses answered `active`; any other is `disabled` with the status as detail.
   * Default `ACTIVE`, `PASSWORD_EXPIRED`, `LOCKED_OUT`, `RECOVERY`: the account exists and is
   * enabled even if its password needs attention, which a certificate does not use.
   */
  readonly activeStatuses: readonly string[];
  /** Clock for token expiry and assertion times; `Date.now` by default. */
  readonly now?: () => number;
}

/** Scopes for user and group lookups (Okta "OAuth 2.0 scopes": okta.users.read, okta.groups.read). */
const USER_SCOPES = 'okta.users.read okta.groups.read';

/** Scope for device lookups; a separate token, so an app without it still looks users up. */
const DEVICE_SCOPES = 'okta.devices.read';

/** Lifetime of a client assertion; Okta accepts at most one hour. */
const ASSERTION_LIFETIME_S = 300;

/** Okta's error code for a resource that does not exist (404). */
const NOT_FOUND_CODE = 'E0000007';

/** The only device status that may connect (Okta Devices API: ACTIVE, SUSPENDED, DEACTIVATED, CREATED). */
const DEVICE_ACTIVE = 'ACTIVE';

/** Sends one authenticated GET; an OAuth token source or a static API token. */
type Send = (url: string, signal: AbortSignal) => Promise<JsonResponse>;

/** An {@link IdentityProvider} for Okta. */
export class OktaProvider implements IdentityProvider {
  readonly name: string;
  readonly #org: string;
  readonly #activeStatuses: ReadonlySet<string>;
  readonly #sendUsers: Send;
  readonly #sendDevices: Send;

  /** Throws a plain `Error` when the OAuth private key cannot sign a client assertion. */
  constructor(options: OktaOptions) {
    this.name = options.name;
    this.#org = baseUrl(options.orgUrl);
    this.#activeStatuses = new Set(options.activeStatuses);
    const { auth } = options;
    if (auth.kind === 'api-token') {
      // Okta API tokens: "Authorization: SSWS ${api_token}".
      const send: Send = (url, signal) => requestJson({ url, headers: { authorization: `SSWS ${auth.token}` }, signal });
      this.#sendUsers = send;
      this.#sendDevices = send;
    } else {
      jwtAlgorithm(auth.privateKeyPem);
      const users = this.#tokenSource(auth, USER_SCOPES, options.now ?? Date.now);
      const devices = this.#tokenSource(auth, DEVICE_SCOPES, options.now ?? Date.now);
      this.#sendUsers = (url, signal) => users.request({ url, signal });
      this.#sendDevices = (url, signal) => devices.request({ url, signal });
    }
  }

  async lookup(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer> {
    return query.kind === 'user' ? this.#user(query, signal) : this.#device(query.id, signal);
  }

  /** GET /api/v1/users/{id or login} (Okta Users API, "Retrieve a user"). */
  async #user(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer> {
    // `me` names the caller (the API token's admin), not a user called "me".
    const segment = query.id.toLowerCase() === 'me' ? undefined : pathSegment(query.id);
    if (segment === undefined) return { status: 'not-found' };
    const user = await this.#get(this.#sendUsers, `${this.#org}/api/v1/users/${segment}`, signal);
    if (user === undefined) return { status: 'not-found' };
    const id = field(user, 'id');
    const status = field(user, 'status');
    if (typeof id !== 'string' || id === '' || typeof status !== 'string') throw new ProviderFailure('bad-response', 'Okta user without id or status');
    const groups = query.groups ? await this.#groups(id, signal) : [];
    if (groups === undefined) return { status: 'not-found' };
    return this.#activeStatuses.has(status) ? { status: 'active', groups } : { status: 'disabled', groups, detail: status };
  }

  /** GET /api/v1/devices/{deviceId} (Okta Devices API, "Retrieve a device"); devices have no groups. */
  async #device(deviceId: string, signal: AbortSignal): Promise<IdentityAnswer> {
    const segment = pathSegment(deviceId);
    if (segment === undefined) return { status: 'not-found' };
    const device = await this.#get(this.#sendDevices, `${this.#org}/api/v1/devices/${segment}`, signal);
    if (device === undefined) return { status: 'not-found' };
    const status = field(device, 'status');
    if (typeof status !== 'string') throw new ProviderFailure('bad-response', 'Okta device without status');
    return status === DEVICE_ACTIVE ? { status: 'active', groups: [] } : { status: 'disabled', groups: [], detail: status };
  }

  /**
   * Names of the user's groups (Okta Users API, "List all groups of a user": `profile.name`),
   * following the `Link: <…>; rel="next"` header (Okta "Pagination", RFC 8288). Undefined when
   * the user vanished between the two requests.
   */
  #groups(userId: string, signal: AbortSignal): Promise<string[] | undefined> {
    return readPages(`${this.#org}/api/v1/users/${encodeURIComponent(userId)}/groups`, 'Okta groups', async (url: string) => {
      const response = await this.#sendUsers(url, signal);
      if (response.status === 404) return notFound(response);
      if (!Array.isArray(response.body)) throw new ProviderFailure('bad-response', 'Okta group list is not an array');
      const names = response.body.map((group) => field(field(group, 'profile'), 'name')).filter((name): name is string => typeof name === 'string' && name !== '');
      const next = nextLink(response.headers.get('link'));
      return { items: names, next: next === undefined ? undefined : samePageOrigin(next, this.#org) };
    });
  }

  /** One GET; undefined for a 404 with Okta's not-found error code. */
  async #get(send: Send, url: string, signal: AbortSignal): Promise<unknown> {
    const response = await send(url, signal);
    return response.status === 404 ? notFound(response) : response.body;
  }

  /**
   * Access tokens for `scope`: client credentials with a signed client assertion (RFC 7523 §2.2,
   * Okta "Build a JWT for client authentication": iss = sub = client id, aud = the token
   * endpoint, a fresh `jti`, a short `exp`), built anew for each token request.
   */
  #tokenSource(auth: Extract<OktaAuth, { kind: 'oauth' }>, scope: string, now: () => number): TokenSource {
    const url = `${this.#org}/oauth2/v1/token`;
    return new TokenSource(() => {
      const iat = Math.floor(now() / 1000);
      const claims = { iss: auth.clientId, sub: auth.clientId, aud: url, iat, exp: iat + ASSERTION_LIFETIME_S, jti: randomUUID() };
      return {
        url,
        form: {
          grant_type: 'client_credentials',
          scope,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: signJwt(claims, auth.privateKeyPem, auth.keyId),
        },
      };
    }, now);
  }
}

/** Undefined for Okta's not-found answer (E0000007); any other 404 is a wrong URL, not an answer. */
function notFound(response: JsonResponse): undefined {
  if (field(response.body, 'errorCode') === NOT_FOUND_CODE) return undefined;
  throw new ProviderFailure('http-error', `Okta answered 404 without ${NOT_FOUND_CODE}`);
}

/**
 * The target of the `rel="next"` link in a `Link` header (RFC 8288 §3: `<URI>; rel="next"`,
 * several links separated by commas; relation types are a space-separated list, compared
 * case-insensitively, §2.1.1).
 */
function nextLink(header: string | null): string | undefined {
  for (const link of (header ?? '').matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i.exec(link[2] ?? '');
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (relations.includes('next')) return link[1];
  }
  return undefined;
}
