/**
 * A fake Microsoft Entra ID: the identity platform's v2.0 token endpoint (client credentials with
 * a client secret) and the Microsoft Graph v1.0 calls the provider makes, with Graph's checks,
 * `$select` projection, paging and error envelope.
 *
 * - `POST /{tenant}/oauth2/v2.0/token` checks `grant_type`, `client_id`, `client_secret` and the
 *   `.default` scope of Graph, with the identity platform's OAuth2 errors (401 `invalid_client`
 *   for a wrong secret).
 * - `GET /v1.0/users/{id | upn}` (and `/users('{upn}')`), `GET /v1.0/devices?$filter=deviceId eq
 *   '…'` and `GET /v1.0/{users|devices}/{object id}/transitiveMemberOf/microsoft.graph.group`
 *   need a live bearer token (401 `InvalidAuthenticationToken` otherwise); unknown objects get
 *   404 `Request_ResourceNotFound`; groups come in pages of `min($top, groupPageSize)` linked by
 *   `@odata.nextLink`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { bearerToken, decodeSegments, FakeHttpServer, namesOf, oauthError, type FakeRequest, type FakeResponse } from './fake-http.ts';

/** The scope the fake grants: Graph's application ID URI with `/.default`. */
export const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default';

/** A user of the fake directory. */
export interface FakeEntraUser {
  readonly userPrincipalName: string;
  /** The object id; a generated GUID by default. */
  readonly id?: string;
  readonly accountEnabled?: boolean;
  /** Display names of the groups it is a transitive member of. */
  readonly groups?: readonly string[];
}

/** A device of the fake directory. */
export interface FakeEntraDevice {
  /** The Entra `deviceId` (set by device registration), a GUID. */
  readonly deviceId: string;
  /** The object id; a generated GUID by default. */
  readonly id?: string;
  readonly accountEnabled?: boolean;
  readonly displayName?: string;
  readonly groups?: readonly string[];
}

/** Options of {@link FakeEntra.start}. */
export interface FakeEntraOptions {
  readonly tenantId?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Groups a page at most (the request's `$top` may lower it); 100 by default, as Graph. */
  readonly groupPageSize?: number;
  /** `expires_in` of issued tokens; 3599 by default. */
  readonly tokenLifetimeSeconds?: number;
}

type StoredUser = FakeEntraUser & { readonly id: string };
type StoredDevice = FakeEntraDevice & { readonly id: string };

/** Graph's default and largest page size for directory objects. */
const DEFAULT_TOP = 100;
const MAX_TOP = 999;

/** Properties Graph returns for a user without `$select` (accountEnabled is not among them). */
const USER_DEFAULT_PROPERTIES = ['id', 'userPrincipalName', 'displayName', 'mail', 'givenName', 'surname'];

/** The fake Entra tenant; see the file comment. */
export class FakeEntra extends FakeHttpServer {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Groups a page at most; tests may change it. */
  groupPageSize: number;
  readonly #tokenLifetimeSeconds: number;
  readonly #users = new Map<string, StoredUser>();
  readonly #devices = new Map<string, StoredDevice>();
  readonly #groupIds = new Map<string, string>();
  readonly #tokens = new Set<string>();

  private constructor(options: FakeEntraOptions) {
    super();
    this.tenantId = options.tenantId ?? '11111111-2222-3333-4444-555555555555';
    this.clientId = options.clientId ?? '66666666-7777-8888-9999-000000000000';
    this.clientSecret = options.clientSecret ?? `fake~secret.${randomBytes(12).toString('base64url')}`;
    this.groupPageSize = options.groupPageSize ?? DEFAULT_TOP;
    this.#tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  }

  /** Starts the fake on 127.0.0.1; it serves both the login and the Graph URL. */
  static async start(options: FakeEntraOptions = {}): Promise<FakeEntra> {
    const entra = new FakeEntra(options);
    await entra.listen();
    return entra;
  }

  /** The path of the tenant's token endpoint, for {@link FakeHttpServer.requests}. */
  get tokenPath(): string {
    return `/${this.tenantId}/oauth2/v2.0/token`;
  }

  /** Adds or replaces a user (keyed by UPN, case-insensitively); returns its object id. */
  setUser(user: FakeEntraUser): string {
    const key = user.userPrincipalName.toLowerCase();
    const id = user.id ?? this.#users.get(key)?.id ?? randomUUID();
    this.#users.set(key, { ...user, id });
    return id;
  }

  /** Removes a user: its lookups get 404. */
  deleteUser(userPrincipalName: string): void {
    this.#users.delete(userPrincipalName.toLowerCase());
  }

  /** Adds or replaces a device (keyed by deviceId); returns its object id. */
  setDevice(device: FakeEntraDevice): string {
    const id = device.id ?? this.#devices.get(device.deviceId)?.id ?? randomUUID();
    this.#devices.set(device.deviceId, { ...device, id });
    return id;
  }

  /** Forgets every issued token: Graph answers 401 until a new one is fetched. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Graph's error envelope with the code that goes with `status`. */
  protected override errorBody(status: number, message: string): unknown {
    return graphError(GRAPH_CODES[status] ?? 'generalException', message);
  }

  protected override route(request: FakeRequest): FakeResponse {
    if (request.path.endsWith('/oauth2/v2.0/token')) return request.method === 'POST' ? this.#token(request) : this.#graphError(405, 'Request_BadRequest', 'Method not allowed');
    if (!request.path.startsWith('/v1.0/')) return this.#graphError(400, 'BadRequest', 'Invalid version.');
    if (request.method !== 'GET') return this.#graphError(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
    const token = bearerToken(request);
    if (token === undefined || !this.#tokens.has(token)) {
      const message = (request.headers.authorization ?? '') === '' ? 'Access token is empty.' : 'Access token validation failure. Invalid audience.';
      return { status: 401, headers: { 'www-authenticate': 'Bearer realm="", error="invalid_token"' }, body: graphError('InvalidAuthenticationToken', message) };
    }
    // Decoded segments after /v1.0/; `%2F` inside an id stays inside its segment.
    const segments = decodeSegments(request.path.slice('/v1.0/'.length));
    if (segments === undefined) return this.#graphError(400, 'BadRequest', 'Bad Request - Invalid URL');
    const [collection, key, relation, cast] = segments;
    if (collection === 'devices' && segments.length === 1) return this.#deviceList(request);
    if (collection === 'users' && segments.length === 2 && key !== undefined) return this.#user(request, key);
    if (collection?.startsWith("users('") === true && collection.endsWith("')") && segments.length === 1) {
      return this.#user(request, collection.slice("users('".length, -"')".length).replaceAll("''", "'"));
    }
    if ((collection === 'users' || collection === 'devices') && key !== undefined && relation === 'transitiveMemberOf' && cast === 'microsoft.graph.group' && segments.length === 4) {
      return this.#groups(request, collection, key);
    }
    return this.#graphError(400, 'BadRequest', `Resource not found for the segment '${segments.at(-1) ?? ''}'.`);
  }

  /** The v2.0 token endpoint, client credentials grant with a shared secret. */
  #token(request: FakeRequest): FakeResponse {
    const tenant = decodeSegments(request.path.split('/')[1] ?? '')?.[0];
    if (tenant !== this.tenantId) return tokenError(400, 'invalid_tenant', `AADSTS90002: Tenant '${tenant}' not found.`);
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return tokenError(400, 'invalid_request', "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
    }
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') !== 'client_credentials') return tokenError(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
    if (form.get('client_id') !== this.clientId) return tokenError(400, 'unauthorized_client', `AADSTS700016: Application not found in the directory.`);
    if (form.get('client_secret') !== this.clientSecret) return tokenError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    if (form.get('scope') !== GRAPH_DEFAULT_SCOPE) return tokenError(400, 'invalid_scope', 'AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.');
    const accessToken = `eyJ0eXAiOiJKV1QifQ.fake.${randomBytes(24).toString('base64url')}`;
    this.#tokens.add(accessToken);
    return { status: 200, body: { token_type: 'Bearer', expires_in: this.#tokenLifetimeSeconds, ext_expires_in: this.#tokenLifetimeSeconds, access_token: accessToken } };
  }

  /** GET /users/{id | userPrincipalName}: by object id or UPN (case-insensitive). */
  #user(request: FakeRequest, key: string): FakeResponse {
    const user = this.#users.get(key.toLowerCase()) ?? [...this.#users.values()].find((candidate) => candidate.id === key);
    if (user === undefined) return this.#notFound(key);
    const [given, family] = namesOf(user.userPrincipalName);
    const resource = {
      id: user.id,
      userPrincipalName: user.userPrincipalName,
      displayName: `${given} ${family}`.trim(),
      mail: user.userPrincipalName,
      givenName: given,
      surname: family,
      accountEnabled: user.accountEnabled ?? true,
    };
    return { status: 200, body: { '@odata.context': `${this.url}/v1.0/$metadata#users/$entity`, ...project(resource, request, USER_DEFAULT_PROPERTIES) } };
  }

  /** GET /devices?$filter=deviceId eq '…': the only filter the fake understands. */
  #deviceList(request: FakeRequest): FakeResponse {
    const filter = request.query.get('$filter');
    const match = filter === null ? null : /^deviceId eq '((?:[^']|'')*)'$/.exec(filter);
    if (match === null) return this.#graphError(400, 'Request_UnsupportedQuery', 'Unsupported or invalid query filter clause specified.');
    const deviceId = (match[1] ?? '').replaceAll("''", "'");
    const device = this.#devices.get(deviceId);
    const value = device === undefined ? [] : [project(deviceResource(device), request, Object.keys(deviceResource(device)))];
    return { status: 200, body: { '@odata.context': `${this.url}/v1.0/$metadata#devices`, value } };
  }

  /** The transitive groups of a user or device, a page at a time (`$skiptoken` is an offset). */
  #groups(request: FakeRequest, collection: 'users' | 'devices', objectId: string): FakeResponse {
    const owner = collection === 'users' ? [...this.#users.values()].find((user) => user.id === objectId) : [...this.#devices.values()].find((device) => device.id === objectId);
    if (owner === undefined) return this.#notFound(objectId);
    const top = Number(request.query.get('$top') ?? DEFAULT_TOP);
    if (!Number.isInteger(top) || top < 1 || top > MAX_TOP) return this.#graphError(400, 'Request_BadRequest', `Invalid page size specified: '${String(request.query.get('$top'))}'. Must be between 1 and 999 inclusive.`);
    const skipToken = request.query.get('$skiptoken');
    const offset = skipToken === null ? 0 : Number(Buffer.from(skipToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) return this.#graphError(400, 'Request_BadRequest', 'Invalid skip token.');
    const size = Math.min(top, this.groupPageSize);
    const all = owner.groups ?? [];
    const value = all.slice(offset, offset + size).map((displayName) => ({
      '@odata.type': '#microsoft.graph.group',
      ...project({ id: this.#groupId(displayName), displayName, securityEnabled: true, mailEnabled: false }, request, ['id', 'displayName', 'securityEnabled', 'mailEnabled']),
    }));
    let nextLink: string | undefined;
    if (offset + size < all.length) {
      const next = new URLSearchParams(request.query);
      next.set('$skiptoken', Buffer.from(String(offset + size)).toString('base64url'));
      nextLink = `${this.url}${request.path}?${next.toString()}`;
    }
    return {
      status: 200,
      body: { '@odata.context': `${this.url}/v1.0/$metadata#groups(id,displayName)`, value, ...(nextLink === undefined ? {} : { '@odata.nextLink': nextLink }) },
    };
  }

  #groupId(displayName: string): string {
    let id = this.#groupIds.get(displayName);
    if (id === undefined) {
      id = randomUUID();
      this.#groupIds.set(displayName, id);
    }
    return id;
  }

  #notFound(key: string): FakeResponse {
    return this.#graphError(404, 'Request_ResourceNotFound', `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`);
  }

  #graphError(status: number, code: string, message: string): FakeResponse {
    return { status, body: graphError(code, message) };
  }
}

/** Graph's error envelope (https://learn.microsoft.com/graph/errors). */
function graphError(code: string, message: string): unknown {
  return { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID(), 'client-request-id': randomUUID() } } };
}

/** Graph error codes the fake's canned answers use, per status. */
const GRAPH_CODES: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Authorization_RequestDenied',
  404: 'Request_ResourceNotFound',
  429: 'TooManyRequests',
  500: 'generalException',
  503: 'serviceNotAvailable',
};

function deviceResource(device: StoredDevice): Record<string, unknown> {
  return {
    id: device.id,
    deviceId: device.deviceId,
    accountEnabled: device.accountEnabled ?? true,
    displayName: device.displayName ?? `DEVICE-${device.deviceId.slice(0, 8).toUpperCase()}`,
    operatingSystem: 'Windows',
    trustType: 'AzureAd',
  };
}

/** The properties named by `$select`, or `defaults` without it (Graph's projection). */
function project(resource: Readonly<Record<string, unknown>>, request: FakeRequest, defaults: readonly string[]): Record<string, unknown> {
  const select = request.query.get('$select');
  const names = select === null ? defaults : select.split(',').map((name) => name.trim());
  return Object.fromEntries(names.filter((name) => name in resource).map((name) => [name, resource[name] ?? null]));
}

/** An OAuth2 error answer of the identity platform (RFC 6749 §5.2), with its AADSTS code and trace ids. */
function tokenError(status: number, error: string, description: string): FakeResponse {
  const errorCode = Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0);
  return oauthError(status, error, description, { error_codes: [errorCode], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() });
}
