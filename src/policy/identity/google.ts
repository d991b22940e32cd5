/**
 * Google Workspace through the Admin SDK Directory API: a service account with domain-wide
 * delegation acts as an administrator and reads users and their groups.
 *
 * - Token: the OAuth 2.0 JWT bearer grant (RFC 7523 §2.1) as Google documents it for service
 *   accounts, https://developers.google.com/identity/protocols/oauth2/service-account#httprest
 * - User: `users.get`, https://developers.google.com/admin-sdk/directory/reference/rest/v1/users/get
 * - Groups: `groups.list` with `userKey`,
 *   https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/list
 *
 * Devices are out of scope: Google's device APIs (ChromeOS, mobile, Cloud Identity devices) are
 * not used, and device lookups fail as `unsupported`; with Google, operators map certificates to
 * users (a SAN e-mail or UPN).
 */
import { baseUrl, field, pathSegment, readPages } from './http-json.ts';
import { jwtAlgorithm, signJwt } from './jwt.ts';
import { ProviderFailure, type IdentityAnswer, type IdentityProvider, type IdentityQuery } from './provider.ts';
import { TokenSource } from './token-source.ts';

/** The grant type of the token request (RFC 7523 §2.1). */
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Read-only scopes for users and groups; the service account's delegation must grant both. */
const SCOPES = [
  'https://www.googleapis.com/auth/admin.directory.user.readonly',
  'https://www.googleapis.com/auth/admin.directory.group.readonly',
].join(' ');

/** Google accepts assertions that live at most one hour (`exp` ≤ `iat` + 3600). */
const ASSERTION_LIFETIME_S = 3600;

/** `groups.list` returns at most 200 groups a page (its `maxResults` limit). */
const GROUP_PAGE_SIZE = 200;

/** `errors[].reason` of Google's error envelope for an unknown resource. */
const NOT_FOUND_REASON = 'notFound';

/** The fields of a service-account key that the provider uses. */
export interface GoogleServiceAccount {
  readonly clientEmail: string;
  readonly privateKeyPem: string;
  /** Sent as the assertion's `kid`, so Google picks the right public key of the account. */
  readonly privateKeyId?: string;
  readonly tokenUri: string;
}

/**
 * Reads a service-account key JSON file's content (fields `client_email`, `private_key`,
 * `private_key_id`, `token_uri`; `type` must be `"service_account"`). Throws a plain `Error`
 * naming the missing or wrong field, never echoing the file (it holds the private key).
 */
export function parseServiceAccountKey(json: string): GoogleServiceAccount {
  let key: unknown;
  try {
    key = JSON.parse(json);
  } catch {
    // No cause: the parser's message quotes the text around the error, which may be key material.
    throw new Error('service-account key file is not valid JSON');
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) throw new Error('service-account key file is not a JSON object');
  if (field(key, 'type') !== 'service_account') throw new Error('service-account key file: "type" must be "service_account"');
  const privateKeyId = field(key, 'private_key_id');
  if (privateKeyId !== undefined && typeof privateKeyId !== 'string') throw new Error('service-account key file: "private_key_id" must be a string');
  const tokenUri = requiredString(key, 'token_uri');
  if (!URL.canParse(tokenUri)) throw new Error('service-account key file: "token_uri" is not a URL');
  return {
    clientEmail: requiredString(key, 'client_email'),
    privateKeyPem: requiredString(key, 'private_key'),
    ...(privateKeyId === undefined || privateKeyId === '' ? {} : { privateKeyId }),
    tokenUri,
  };
}

/** A Google Workspace directory. */
export interface GoogleOptions {
  /** The configured name, for logs and metrics. */
  readonly name: string;
  readonly serviceAccount: GoogleServiceAccount;
  /** The administrator the service account impersonates (domain-wide delegation): the JWT `sub`. */
  readonly subject: string;
  /** The Directory API origin, `https://admin.googleapis.com` in production. */
  readonly directoryUrl: string;
  /** Clock in milliseconds, for the assertion's `iat` and the token's expiry (tests). */
  readonly now?: () => number;
}

/**
 * Looks users up in Google Workspace.
 *
 * - A user is keyed by primary e-mail, alias or immutable user id. `suspended` makes it
 *   `disabled` with detail `suspended` (`suspended: <suspensionReason>` when Google gives one),
 *   `archived` makes it `disabled` with detail `archived`, otherwise it is `active`.
 * - Groups are the user's direct memberships (`groups.list` does not expand nested groups).
 *   Each group is reported twice, by its e-mail and by its display name, so rules may match
 *   either (`staff@example.com` and `Staff`).
 * - Device lookups reject with `unsupported`.
 * - A token the API refuses (401) is dropped and the request retried once with a fresh token
 *   ({@link TokenSource.request}).
 */
export class GoogleProvider implements IdentityProvider {
  readonly name: string;
  readonly #directoryUrl: string;
  readonly #origin: string;
  readonly #tokens: TokenSource;

  /** Throws a plain `Error` when the key cannot sign RS256, the only algorithm Google accepts. */
  constructor(options: GoogleOptions) {
    const { serviceAccount, subject } = options;
    if (jwtAlgorithm(serviceAccount.privateKeyPem) !== 'RS256') throw new Error(`identity provider ${options.name}: Google service-account keys are RSA (RS256)`);
    const now = options.now ?? Date.now;
    this.name = options.name;
    this.#directoryUrl = baseUrl(options.directoryUrl);
    this.#origin = new URL(this.#directoryUrl).origin;
    this.#tokens = new TokenSource(() => {
      // Claims of Google's service-account assertion (RFC 7523 §3): the account issues it, acts
      // for `sub`, asks for `scope`, and addresses the token endpoint; one hour at most.
      const iat = Math.floor(now() / 1000);
      const claims = { iss: serviceAccount.clientEmail, sub: subject, scope: SCOPES, aud: serviceAccount.tokenUri, iat, exp: iat + ASSERTION_LIFETIME_S };
      return { url: serviceAccount.tokenUri, form: { grant_type: JWT_BEARER_GRANT, assertion: signJwt(claims, serviceAccount.privateKeyPem, serviceAccount.privateKeyId) } };
    }, now);
  }

  /** Looks a user up; see the class comment for what the answer means. */
  async lookup(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer> {
    if (query.kind === 'device') {
      throw new ProviderFailure('unsupported', `identity provider ${this.name}: Google lookups are by user; device lookups are not supported`);
    }
    const userKey = pathSegment(query.id);
    if (userKey === undefined) return { status: 'not-found' };
    const user = await this.#get(`${this.#directoryUrl}/admin/directory/v1/users/${userKey}?projection=basic`, signal);
    if (user === undefined) return { status: 'not-found' };
    const suspended = field(user.body, 'suspended');
    const archived = field(user.body, 'archived') ?? false;
    const suspensionReason = field(user.body, 'suspensionReason');
    if (typeof suspended !== 'boolean' || typeof archived !== 'boolean') {
      throw new ProviderFailure('bad-response', `${this.#origin} answered a user without boolean "suspended" and "archived"`);
    }
    const groups = query.groups ? await this.#groups(query.id, signal) : [];
    if (groups === undefined) return { status: 'not-found' };
    if (suspended) {
      const detail = typeof suspensionReason === 'string' && suspensionReason !== '' ? `suspended: ${suspensionReason}` : 'suspended';
      return { status: 'disabled', groups, detail };
    }
    if (archived) return { status: 'disabled', groups, detail: 'archived' };
    return { status: 'active', groups };
  }

  /**
   * The e-mails and names of the user's groups, following `nextPageToken`; undefined when the
   * user vanished between the two requests.
   */
  async #groups(userKey: string, signal: AbortSignal): Promise<string[] | undefined> {
    const page = (pageToken?: string): string => {
      const params = new URLSearchParams({ userKey, maxResults: String(GROUP_PAGE_SIZE), ...(pageToken === undefined ? {} : { pageToken }) });
      return `${this.#directoryUrl}/admin/directory/v1/groups?${params.toString()}`;
    };
    const groups = await readPages(page(), 'Google groups', async (url: string) => {
      const response = await this.#get(url, signal);
      if (response === undefined) return undefined;
      // Google leaves `groups` out when the user belongs to none.
      const list = field(response.body, 'groups') ?? [];
      const next = field(response.body, 'nextPageToken');
      if (!Array.isArray(list)) throw new ProviderFailure('bad-response', `${this.#origin} answered a group list that is not an array`);
      if (next !== undefined && typeof next !== 'string') throw new ProviderFailure('bad-response', `${this.#origin} answered a nextPageToken that is not a string`);
      const entries: readonly unknown[] = list;
      return { items: entries.flatMap((group) => this.#groupKeys(group)), next: next === undefined || next === '' ? undefined : page(next) };
    });
    return groups === undefined ? undefined : [...new Set(groups)];
  }

  /** A group's e-mail and, when it has one, its name. */
  #groupKeys(group: unknown): string[] {
    const email = field(group, 'email');
    const name = field(group, 'name');
    if (typeof email !== 'string' || (name !== undefined && typeof name !== 'string')) {
      throw new ProviderFailure('bad-response', `${this.#origin} answered a group without a string "email" and "name"`);
    }
    return name === undefined || name === '' ? [email] : [email, name];
  }

  /**
   * A Directory API GET with the service account's token. Undefined for a 404 whose JSON error
   * body says so (`{"error": {"code": 404, "message": "Resource Not Found: userKey", "errors":
   * [{"reason": "notFound", ...}]}}`); any other 404 is a wrong URL, not an answer.
   */
  async #get(url: string, signal: AbortSignal): Promise<{ readonly body: unknown } | undefined> {
    const response = await this.#tokens.request({ url, signal });
    if (response.status !== 404) return { body: response.body };
    const errors = field(field(response.body, 'error'), 'errors');
    if (Array.isArray(errors) && errors.some((error: unknown) => field(error, 'reason') === NOT_FOUND_REASON)) return undefined;
    throw new ProviderFailure('http-error', `${this.#origin} answered 404 without reason ${NOT_FOUND_REASON}`);
  }
}

function requiredString(value: object, name: string): string {
  const found = field(value, name);
  if (typeof found !== 'string' || found === '') throw new Error(`service-account key file has no "${name}"`);
  return found;
}
