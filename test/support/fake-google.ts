/**
 * A fake Google: the OAuth 2.0 token endpoint of service accounts and the two Admin SDK
 * Directory API calls the provider makes, with Google's request checks and error envelopes.
 *
 * - `POST /token` verifies the JWT bearer assertion (RFC 7523 §3) as Google does: RS256 signature
 *   under the service account's public key, `kid`, `iss`, `sub`, `aud` (this URL), the scopes the
 *   delegation grants, `exp` in the future and at most an hour after `iat`.
 * - `GET /admin/directory/v1/users/{userKey}` and `GET /admin/directory/v1/groups?userKey=`
 *   need a live bearer token with the right scope (401 / 403 otherwise) and page groups with
 *   `nextPageToken`.
 */
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { bearerToken, FakeHttpServer, namesOf, oauthError, parseJwt, verifyJwt, type FakeRequest, type FakeResponse } from './fake-http.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The scopes a read-only delegation grants. */
export const USER_SCOPE = 'https://www.googleapis.com/auth/admin.directory.user.readonly';
export const GROUP_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';

const USERS_PATH = '/admin/directory/v1/users/';
const GROUPS_PATH = '/admin/directory/v1/groups';

/** A group of the fake directory. */
export interface FakeGoogleGroup {
  readonly email: string;
  readonly name: string;
}

/** A user of the fake directory. */
export interface FakeGoogleUser {
  readonly primaryEmail: string;
  /** The immutable id; a generated numeric id by default. */
  readonly id?: string;
  readonly suspended?: boolean;
  readonly suspensionReason?: string;
  readonly archived?: boolean;
  readonly groups?: readonly FakeGoogleGroup[];
}

/** A service-account key file and the public key that checks its signatures. */
export interface ServiceAccountKey {
  /** The key file's content, as Google's console downloads it. */
  readonly json: string;
  readonly publicKey: KeyObject;
  readonly privateKeyId: string;
}

/** Makes a service-account key file with a fresh 2048-bit RSA key. */
export async function createServiceAccountKey(options: { readonly clientEmail: string; readonly tokenUri: string }): Promise<ServiceAccountKey> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const privateKeyId = randomBytes(20).toString('hex');
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'fake-project',
    private_key_id: privateKeyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: options.clientEmail,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: options.tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    universe_domain: 'googleapis.com',
  });
  return { json, publicKey, privateKeyId };
}

/** A user as stored: its id is always set. */
type StoredUser = FakeGoogleUser & { readonly id: string };

/** Options of {@link FakeGoogle.start}. */
export interface FakeGoogleOptions {
  readonly clientEmail?: string;
  /** The administrator the service account may impersonate. */
  readonly subject?: string;
  /** Groups a page at most (the request's `maxResults` may lower it). */
  readonly groupPageSize?: number;
  /** `expires_in` of issued tokens. */
  readonly tokenLifetimeSeconds?: number;
}

/** The fake Google; see the file comment. */
export class FakeGoogle extends FakeHttpServer {
  readonly clientEmail: string;
  readonly subject: string;
  /** Groups a page at most; tests may change it. */
  groupPageSize: number;
  readonly #tokenLifetimeSeconds: number;
  readonly #users = new Map<string, StoredUser>();
  readonly #tokens = new Map<string, { expiresAt: number; scopes: ReadonlySet<string> }>();
  #key: ServiceAccountKey | undefined;
  #nextId = 1;

  private constructor(options: FakeGoogleOptions) {
    super();
    this.clientEmail = options.clientEmail ?? 'radius@fake-project.iam.gserviceaccount.com';
    this.subject = options.subject ?? 'admin@example.com';
    this.groupPageSize = options.groupPageSize ?? 200;
    this.#tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  }

  /** Starts the fake on 127.0.0.1 with a new service-account key. */
  static async start(options: FakeGoogleOptions = {}): Promise<FakeGoogle> {
    const google = new FakeGoogle(options);
    await google.listen();
    try {
      google.#key = await createServiceAccountKey({ clientEmail: google.clientEmail, tokenUri: google.tokenUrl });
    } catch (error) {
      await google.close();
      throw error;
    }
    return google;
  }

  /** The token endpoint, the `token_uri` of the key file and the assertion's audience. */
  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  /** The service-account key file whose assertions the fake accepts. */
  get serviceAccountJson(): string {
    return this.#serviceAccountKey().json;
  }

  /** Adds or replaces a user (keyed by primary e-mail, case-insensitively). */
  setUser(user: FakeGoogleUser): void {
    const existing = this.#findUser(user.primaryEmail);
    if (existing !== undefined) this.#users.delete(existing.primaryEmail.toLowerCase());
    const id = user.id ?? existing?.id ?? String(100000000000000000000n + BigInt(this.#nextId++));
    this.#users.set(user.primaryEmail.toLowerCase(), { ...user, id });
  }

  /** Removes a user: its lookups get 404. */
  deleteUser(primaryEmail: string): void {
    this.#users.delete(primaryEmail.toLowerCase());
  }

  /** Forgets every issued token: the API answers 401 until a new one is fetched. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Google's JSON error envelope of the Directory API. */
  protected override errorBody(status: number, message: string): unknown {
    const [reason, state] = ERRORS[status] ?? ['backendError', 'UNKNOWN'];
    return { error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: state } };
  }

  protected override route(request: FakeRequest): FakeResponse {
    if (request.path === '/token') return request.method === 'POST' ? this.#token(request) : this.errorResponse(405, 'Method Not Allowed');
    if (request.method !== 'GET') return this.errorResponse(405, 'Method Not Allowed');
    if (request.path === GROUPS_PATH) return this.#authorized(request, GROUP_SCOPE) ?? this.#groups(request);
    if (request.path.startsWith(USERS_PATH)) return this.#authorized(request, USER_SCOPE) ?? this.#user(request);
    return this.errorResponse(404, 'Not Found');
  }

  #serviceAccountKey(): ServiceAccountKey {
    if (this.#key === undefined) throw new Error('FakeGoogle is not started');
    return this.#key;
  }

  /** OAuth 2.0 token endpoint: the JWT bearer grant (RFC 7523 §2.1, §3). */
  #token(request: FakeRequest): FakeResponse {
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type: ' + (form.get('grant_type') ?? ''));
    }
    const jwt = parseJwt(form.get('assertion') ?? '');
    if (jwt === undefined) return oauthError(400, 'invalid_request', 'Invalid JWT.');
    const { header, claims } = jwt;
    const key = this.#serviceAccountKey();
    if (header?.alg !== 'RS256' || (header.kid !== undefined && header.kid !== key.privateKeyId)) {
      return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    }
    if (!verifyJwt(jwt, key.publicKey)) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    if (claims === undefined || claims.iss !== this.clientEmail) return oauthError(400, 'invalid_grant', 'Invalid JWT: iss.');
    if (claims.aud !== this.tokenUrl) return oauthError(400, 'invalid_grant', 'Invalid JWT: aud.');
    const now = Date.now() / 1000;
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= now || exp - iat > 3600) {
      return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    }
    if (claims.sub !== this.subject) return oauthError(400, 'invalid_grant', 'Invalid email or User ID');
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter((scope) => scope !== '') : [];
    if (scopes.length === 0 || !scopes.every((scope) => scope === USER_SCOPE || scope === GROUP_SCOPE)) {
      return oauthError(401, 'unauthorized_client', 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.');
    }
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(accessToken, { expiresAt: Date.now() + this.#tokenLifetimeSeconds * 1000, scopes: new Set(scopes) });
    return { status: 200, body: { access_token: accessToken, expires_in: this.#tokenLifetimeSeconds, token_type: 'Bearer' } };
  }

  /** The 401 or 403 for a request without a live token of `scope`; undefined when it has one. */
  #authorized(request: FakeRequest, scope: string): FakeResponse | undefined {
    const bearer = bearerToken(request);
    const token = bearer === undefined ? undefined : this.#tokens.get(bearer);
    if (token === undefined || token.expiresAt <= Date.now()) {
      return {
        ...this.errorResponse(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'),
        headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      };
    }
    if (!token.scopes.has(scope)) return this.errorResponse(403, 'Request had insufficient authentication scopes.');
    return undefined;
  }

  /** `users.get`: the user resource of the `basic` projection. */
  #user(request: FakeRequest): FakeResponse {
    const segment = request.path.slice(USERS_PATH.length);
    if (segment === '' || segment.includes('/')) return this.errorResponse(404, 'Not Found');
    const user = this.#findUser(decodeURIComponent(segment));
    if (user === undefined) return this.errorResponse(404, 'Resource Not Found: userKey');
    const [givenName, familyName] = namesOf(user.primaryEmail);
    return {
      status: 200,
      body: {
        kind: 'admin#directory#user',
        id: user.id,
        etag: `"${randomBytes(8).toString('hex')}"`,
        primaryEmail: user.primaryEmail,
        name: { givenName, familyName, fullName: `${givenName} ${familyName}`.trim() },
        isAdmin: false,
        isDelegatedAdmin: false,
        lastLoginTime: '2024-05-01T08:00:00.000Z',
        creationTime: '2023-01-10T09:30:00.000Z',
        agreedToTerms: true,
        suspended: user.suspended ?? false,
        ...(user.suspended === true && user.suspensionReason !== undefined ? { suspensionReason: user.suspensionReason } : {}),
        archived: user.archived ?? false,
        changePasswordAtNextLogin: false,
        ipWhitelisted: false,
        emails: [{ address: user.primaryEmail, primary: true }],
        customerId: 'C0fake000',
        orgUnitPath: '/',
        isMailboxSetup: true,
        isEnrolledIn2Sv: false,
        isEnforcedIn2Sv: false,
        includeInGlobalAddressList: true,
      },
    };
  }

  /** `groups.list` with `userKey`: the user's groups, a page at a time. */
  #groups(request: FakeRequest): FakeResponse {
    const userKey = request.query.get('userKey');
    if (userKey === null) return this.errorResponse(400, 'Bad Request');
    const maxResults = Number(request.query.get('maxResults') ?? '200');
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 200) return this.errorResponse(400, 'Invalid Input: maxResults');
    const user = this.#findUser(userKey);
    if (user === undefined) return this.errorResponse(404, 'Resource Not Found: userKey');
    const pageToken = request.query.get('pageToken');
    const offset = pageToken === null ? 0 : Number(Buffer.from(pageToken, 'base64url').toString('utf8').replace(/^offset:/, ''));
    if (!Number.isInteger(offset) || offset < 0) return this.errorResponse(400, 'Invalid Input: pageToken');
    const all = user.groups ?? [];
    const size = Math.min(maxResults, this.groupPageSize);
    const page = all.slice(offset, offset + size).map((group, index) => ({
      kind: 'admin#directory#group',
      id: `03fake${String(offset + index).padStart(10, '0')}`,
      etag: `"${randomBytes(8).toString('hex')}"`,
      email: group.email,
      name: group.name,
      directMembersCount: '2',
      description: '',
      adminCreated: true,
    }));
    const next = offset + size < all.length ? Buffer.from(`offset:${offset + size}`).toString('base64url') : undefined;
    return {
      status: 200,
      body: {
        kind: 'admin#directory#groups',
        etag: `"${randomBytes(8).toString('hex')}"`,
        // Google leaves `groups` out of an empty page.
        ...(page.length === 0 ? {} : { groups: page }),
        ...(next === undefined ? {} : { nextPageToken: next }),
      },
    };
  }

  /** A user by primary e-mail (case-insensitive) or immutable id. */
  #findUser(key: string): StoredUser | undefined {
    const byEmail = this.#users.get(key.toLowerCase());
    if (byEmail !== undefined) return byEmail;
    return [...this.#users.values()].find((user) => user.id === key);
  }
}

/** Google's `errors[].reason` and `status` for each HTTP status. */
const ERRORS: Readonly<Record<number, readonly [string, string]>> = {
  400: ['invalid', 'INVALID_ARGUMENT'],
  401: ['authError', 'UNAUTHENTICATED'],
  403: ['forbidden', 'PERMISSION_DENIED'],
  404: ['notFound', 'NOT_FOUND'],
  405: ['httpMethodNotAllowed', 'UNIMPLEMENTED'],
  429: ['rateLimitExceeded', 'RESOURCE_EXHAUSTED'],
  500: ['backendError', 'INTERNAL'],
  503: ['backendError', 'UNAVAILABLE'],
};
