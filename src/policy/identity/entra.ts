/**
 * Microsoft Entra ID through Microsoft Graph v1.0: users by UPN or object id, devices by their
 * Entra `deviceId`, `accountEnabled` as the status, transitive group membership as the groups.
 * The app authenticates with the OAuth2 client credentials grant and a client secret
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow) and
 * needs the application permissions User.Read.All, Device.Read.All and, for groups,
 * GroupMember.Read.All.
 */
import { baseUrl, field, pathSegment, readPages, samePageOrigin } from './http-json.ts';
import { ProviderFailure, type IdentityAnswer, type IdentityProvider, type IdentityQuery } from './provider.ts';
import { TokenSource } from './token-source.ts';

/** How to reach one Entra tenant. */
export interface EntraOptions {
  /** The configured provider name, for logs and metrics. */
  readonly name: string;
  /** Directory (tenant) id or a verified domain of the tenant. */
  readonly tenantId: string;
  /** Application (client) id of the app registration. */
  readonly clientId: string;
  /** A client secret of the app registration. */
  readonly clientSecret: string;
  /** Microsoft identity platform authority host; `https://login.microsoftonline.com` by default. */
  readonly loginUrl: string;
  /** Microsoft Graph host; `https://graph.microsoft.com` by default. */
  readonly graphUrl: string;
  /** Clock for token expiry; `Date.now` by default. */
  readonly now?: () => number;
}

/**
 * The scope asked for: the resource's application ID URI with `/.default`, which grants the
 * application permissions consented for the app (client credentials flow, "The .default
 * scope"). It names the Graph resource, not the URL it is reached at, so it stays the same when
 * `graphUrl` points elsewhere (a test double, a proxy).
 */
const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

/** `$top` for group pages: the maximum for directory objects (default 100, maximum 999), so few pages. */
const GROUP_PAGE_SIZE = 999;

/** Graph's error code for an object that does not exist (404). */
const NOT_FOUND_CODE = 'Request_ResourceNotFound';

/** A user or device found in the directory. */
interface DirectoryAccount {
  readonly collection: 'users' | 'devices';
  readonly objectId: string;
  readonly enabled: boolean;
}

/** An {@link IdentityProvider} for Microsoft Entra ID. */
export class EntraProvider implements IdentityProvider {
  readonly name: string;
  readonly #graph: string;
  readonly #tokens: TokenSource;

  constructor(options: EntraOptions) {
    this.name = options.name;
    this.#graph = baseUrl(options.graphUrl);
    const url = `${baseUrl(options.loginUrl)}/${encodeURIComponent(options.tenantId)}/oauth2/v2.0/token`;
    // RFC 6749 §4.4.2 with the client secret in the body (§2.3.1), as Microsoft documents it.
    const form = { client_id: options.clientId, client_secret: options.clientSecret, grant_type: 'client_credentials', scope: GRAPH_SCOPE };
    this.#tokens = new TokenSource(() => ({ url, form }), options.now);
  }

  async lookup(query: IdentityQuery, signal: AbortSignal): Promise<IdentityAnswer> {
    const account = query.kind === 'user' ? await this.#user(query.id, signal) : await this.#device(query.id, signal);
    if (account === undefined) return { status: 'not-found' };
    const groups = query.groups ? await this.#groups(account, signal) : [];
    if (groups === undefined) return { status: 'not-found' };
    return account.enabled ? { status: 'active', groups } : { status: 'disabled', groups, detail: 'accountEnabled=false' };
  }

  /** GET /users/{id | userPrincipalName} (https://learn.microsoft.com/graph/api/user-get). */
  async #user(id: string, signal: AbortSignal): Promise<DirectoryAccount | undefined> {
    const key = userKey(id);
    if (key === undefined) return undefined;
    const body = await this.#get(`${this.#graph}/v1.0/users${key}?$select=id,userPrincipalName,accountEnabled`, signal);
    return body === undefined ? undefined : directoryAccount('users', body);
  }

  /** GET /devices?$filter=deviceId eq '…' (https://learn.microsoft.com/graph/api/device-list). */
  async #device(deviceId: string, signal: AbortSignal): Promise<DirectoryAccount | undefined> {
    const query = queryString({ $filter: `deviceId eq ${odataString(deviceId)}`, $select: 'id,deviceId,accountEnabled,displayName' });
    const body = await this.#get(`${this.#graph}/v1.0/devices?${query}`, signal);
    const devices = field(body, 'value');
    if (!Array.isArray(devices)) throw new ProviderFailure('bad-response', 'Graph device list without a value array');
    if (devices.length > 1) throw new ProviderFailure('bad-response', `Graph has ${devices.length} devices with one deviceId`);
    return devices.length === 0 ? undefined : directoryAccount('devices', devices[0]);
  }

  /**
   * The display names of the groups the account is a direct or nested member of
   * (https://learn.microsoft.com/graph/api/user-list-transitivememberof, cast to
   * microsoft.graph.group), following `@odata.nextLink` (https://learn.microsoft.com/graph/paging).
   * Undefined when the account vanished between the two requests.
   */
  #groups(account: DirectoryAccount, signal: AbortSignal): Promise<string[] | undefined> {
    const first = `${this.#graph}/v1.0/${account.collection}/${encodeURIComponent(account.objectId)}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=${GROUP_PAGE_SIZE}`;
    return readPages(first, 'Graph groups', async (url: string) => {
      const body = await this.#get(url, signal);
      if (body === undefined) return undefined;
      const items = field(body, 'value');
      const next = field(body, '@odata.nextLink');
      if (!Array.isArray(items)) throw new ProviderFailure('bad-response', 'Graph group page without a value array');
      if (next !== undefined && typeof next !== 'string') throw new ProviderFailure('bad-response', 'Graph @odata.nextLink is not a string');
      // displayName is null for a group the app may not read ("limited information").
      const names = items.map((item) => field(item, 'displayName')).filter((name): name is string => typeof name === 'string' && name !== '');
      return { items: names, next: next === undefined ? undefined : samePageOrigin(next, this.#graph) };
    });
  }

  /**
   * A Graph GET with the app's token. Undefined for a 404 with the `Request_ResourceNotFound`
   * code (https://learn.microsoft.com/graph/errors); any other 404 is a wrong URL, not an answer.
   */
  async #get(url: string, signal: AbortSignal): Promise<unknown> {
    const response = await this.#tokens.request({ url, signal });
    if (response.status !== 404) return response.body;
    if (field(field(response.body, 'error'), 'code') === NOT_FOUND_CODE) return undefined;
    throw new ProviderFailure('http-error', `Graph answered 404 without ${NOT_FOUND_CODE}`);
  }
}

/**
 * The path after `/users` that addresses a user: `/{id}`, or `('{upn}')` for a UPN that starts
 * with `$`, which Graph would read as a system segment (user-get, "HTTP request"). Undefined for
 * a key that cannot be one path segment.
 */
function userKey(id: string): string | undefined {
  if (id.startsWith('$')) return `(${encodeURIComponent(odataString(id))})`;
  const segment = pathSegment(id);
  return segment === undefined ? undefined : `/${segment}`;
}

/** An OData string literal: quotes around it, each `'` doubled (OData ABNF, `SQUOTE-in-string`). */
function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * A query string with percent-encoded values (Graph asks for RFC 3986 encoding: "Encoding query
 * parameters"); a space becomes `%20`, never `+`, which Graph may keep as a plus sign.
 */
function queryString(params: Readonly<Record<string, string>>): string {
  return Object.entries(params)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&');
}

function directoryAccount(collection: DirectoryAccount['collection'], body: unknown): DirectoryAccount {
  const objectId = field(body, 'id');
  const enabled = field(body, 'accountEnabled');
  if (typeof objectId !== 'string' || objectId === '' || typeof enabled !== 'boolean') {
    throw new ProviderFailure('bad-response', `Graph ${collection} object without id or boolean accountEnabled`);
  }
  return { collection, objectId, enabled };
}
