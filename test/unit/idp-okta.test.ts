import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import t from 'tap';
import { jwtAlgorithm, signJwt } from '../../src/policy/identity/jwt.ts';
import { OktaProvider, type OktaAuth, type OktaOptions } from '../../src/policy/identity/okta.ts';
import { FakeOkta } from '../support/fake-okta.ts';
import { closedUrl } from '../support/fake-http.ts';
import { device, expectFailure, signal, startFake, user } from '../support/idp-test-kit.ts';

const DEFAULT_ACTIVE = ['ACTIVE', 'PASSWORD_EXPIRED', 'LOCKED_OUT', 'RECOVERY'];
const CLIENT_ID = '0oa1fakeserviceapp697';

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** The org with an API token and an RSA-keyed service app (kid `rsa-1`). */
const okta = await startFake(t, () => FakeOkta.start({ serviceApp: { clientId: CLIENT_ID, publicKey: rsa.publicKey, keyId: 'rsa-1' } }));

function provider(auth: OktaAuth = { kind: 'api-token', token: okta.apiToken }, options: Partial<OktaOptions> = {}, org = okta): OktaProvider {
  return new OktaProvider({ name: 'okta', orgUrl: org.url, auth, activeStatuses: DEFAULT_ACTIVE, ...options });
}

const rsaAuth: OktaAuth = { kind: 'oauth', clientId: CLIENT_ID, privateKeyPem: pem(rsa.privateKey), keyId: 'rsa-1' };
/** The decoded header and claims of a compact JWS. */
function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown>; input: Buffer; signature: Buffer } {
  const [header = '', claims = '', signature = ''] = jwt.split('.');
  const json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(header), claims: json(claims), input: Buffer.from(`${header}.${claims}`), signature: Buffer.from(signature, 'base64url') };
}

t.test('signJwt: RS256 and ES256 signatures that node:crypto verifies', async (t) => {
  const claims = { iss: 'me', aud: 'https://example.com/token', n: 1 };
  const rs = decodeJwt(signJwt(claims, pem(rsa.privateKey), 'k1'));
  t.same(rs.header, { alg: 'RS256', typ: 'JWT', kid: 'k1' });
  t.same(rs.claims, claims);
  t.ok(verify('sha256', rs.input, rsa.publicKey, rs.signature), 'RS256 verifies');

  const es = decodeJwt(signJwt(claims, pem(ec.privateKey)));
  t.same(es.header, { alg: 'ES256', typ: 'JWT' }, 'no kid when none is given');
  t.equal(es.signature.length, 64, 'JOSE r || s, not DER (RFC 7518 §3.4)');
  t.ok(verify('sha256', es.input, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, es.signature), 'ES256 verifies');
  t.notOk(verify('sha256', Buffer.from(`${es.input.toString()}x`), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, es.signature), 'and only for its input');

  t.equal(jwtAlgorithm(pem(rsa.privateKey)), 'RS256');
  t.equal(jwtAlgorithm(pem(ec.privateKey)), 'ES256');
  const unsupported: [string, string][] = [
    ['Ed25519', pem(generateKeyPairSync('ed25519').privateKey)],
    ['P-384', pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey)],
    ['RSA 1024', pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey)],
    ['not PEM', 'not a key'],
    ['a public key', rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
  ];
  for (const [name, key] of unsupported) {
    t.throws(() => jwtAlgorithm(key), { name: 'Error' }, `${name} is refused`);
    t.throws(() => signJwt(claims, key), { name: 'Error' }, `${name} cannot sign`);
  }
});

t.test('users: statuses, not found, groups through Link pages', async (t) => {
  const idp = provider();
  const id = okta.setUser({ login: 'alice@example.com', groups: ['Everyone', 'Staff'] });
  okta.setUser({ login: 'expired@example.com', status: 'PASSWORD_EXPIRED' });
  okta.setUser({ login: 'locked@example.com', status: 'LOCKED_OUT' });
  for (const status of ['SUSPENDED', 'DEPROVISIONED', 'STAGED', 'PROVISIONED']) okta.setUser({ login: `${status.toLowerCase()}@example.com`, status, groups: ['Everyone'] });

  t.same(await idp.lookup(user('Alice@Example.com', true), signal()), { status: 'active', groups: ['Everyone', 'Staff'] }, 'by login');
  t.same(await idp.lookup(user(id), signal()), { status: 'active', groups: [] }, 'by id, no groups asked');
  t.equal(okta.requests(`/api/v1/users/${id}/groups`), 1, 'groups only when asked, by user id');
  t.same(await idp.lookup(user('expired@example.com'), signal()), { status: 'active', groups: [] }, 'PASSWORD_EXPIRED is active');
  t.same(await idp.lookup(user('locked@example.com'), signal()), { status: 'active', groups: [] }, 'LOCKED_OUT is active');
  for (const status of ['SUSPENDED', 'DEPROVISIONED', 'STAGED', 'PROVISIONED']) {
    t.same(await idp.lookup(user(`${status.toLowerCase()}@example.com`, true), signal()), { status: 'disabled', groups: ['Everyone'], detail: status }, status);
  }
  const strict = provider(undefined, { activeStatuses: ['ACTIVE'] });
  t.same(await strict.lookup(user('locked@example.com'), signal()), { status: 'disabled', groups: [], detail: 'LOCKED_OUT' }, 'activeStatuses is honoured');

  t.same(await idp.lookup(user('nobody@example.com', true), signal()), { status: 'not-found' });
  const before = okta.requests('/api/v1/');
  for (const key of ['me', 'ME', '', '..']) t.same(await idp.lookup(user(key), signal()), { status: 'not-found' }, `"${key}" is no user`);
  t.equal(okta.requests('/api/v1/'), before, 'and costs no request (/users/me is the caller)');

  const groups = Array.from({ length: 5 }, (_, i) => `Group ${i}`);
  const pagedId = okta.setUser({ login: 'paged@example.com', groups });
  okta.groupPageSize = 2;
  t.teardown(() => {
    okta.groupPageSize = 10_000;
  });
  t.same(await idp.lookup(user('paged@example.com', true), signal()), { status: 'active', groups });
  t.equal(okta.requests(`/api/v1/users/${pagedId}/groups`), 3, 'three pages');
  okta.groupPageSize = 1;
  okta.setUser({ login: 'many@example.com', groups: Array.from({ length: 21 }, (_, i) => `M${i}`) });
  await expectFailure(t, idp.lookup(user('many@example.com', true), signal()), 'bad-response');

  okta.respondNext(1, { path: `/api/v1/users/${id}/groups`, status: 200, headers: { link: '<https://evil.example/api/v1/users/x/groups?after=1>; rel="next"' }, body: [] });
  await expectFailure(t, idp.lookup(user('alice@example.com', true), signal()), 'bad-response');
});

t.test('devices: status ACTIVE or not, no groups', async (t) => {
  const idp = provider();
  okta.setDevice({ id: 'guo1active' });
  okta.setDevice({ id: 'guo2suspended', status: 'SUSPENDED' });
  okta.setDevice({ id: 'guo3deactivated', status: 'DEACTIVATED' });
  t.same(await idp.lookup(device('guo1active', true), signal()), { status: 'active', groups: [] });
  t.same(await idp.lookup(device('guo2suspended', true), signal()), { status: 'disabled', groups: [], detail: 'SUSPENDED' });
  t.same(await idp.lookup(device('guo3deactivated', true), signal()), { status: 'disabled', groups: [], detail: 'DEACTIVATED' });
  t.same(await idp.lookup(device('guo9unknown', true), signal()), { status: 'not-found' });
});

t.test("identifiers with '/', \"'\" and '#' reach Okta as one segment", async (t) => {
  const idp = provider();
  okta.setUser({ login: "o'neil/ops#1@example.com" });
  t.same(await idp.lookup(user("o'neil/ops#1@example.com"), signal()), { status: 'active', groups: [] });
  t.equal(okta.requests("/api/v1/users/o'neil%2Fops%231%40example.com"), 1);
  okta.setDevice({ id: 'dev/1#a' });
  t.same(await idp.lookup(device('dev/1#a', true), signal()), { status: 'active', groups: [] });
  t.equal(okta.requests('/api/v1/devices/dev%2F1%23a'), 1);
});

t.test('api token: SSWS header; a wrong token is auth-failed and not echoed', async (t) => {
  okta.setUser({ login: 'ssws@example.com' });
  await provider().lookup(user('ssws@example.com'), signal());
  t.equal(okta.received('/api/v1/users/ssws').at(-1)?.headers.authorization, `SSWS ${okta.apiToken}`);
  const refused = await expectFailure(t, provider({ kind: 'api-token', token: 'wrong-token-value' }).lookup(user('ssws@example.com'), signal()), 'auth-failed');
  t.notMatch(refused?.message ?? '', /wrong-token-value/);
});

t.test('oauth: private_key_jwt with RSA, token reuse, expiry, 401 retry, device scope', async (t) => {
  let clock = Date.now();
  const idp = provider(rsaAuth, { now: () => clock });
  okta.setUser({ login: 'svc-user@example.com', groups: ['Staff'] });
  okta.setDevice({ id: 'guo-oauth' });
  const tokens = okta.requests('/oauth2/v1/token');

  await Promise.all([1, 2, 3].map(() => idp.lookup(user('svc-user@example.com', true), signal())));
  t.same(await idp.lookup(user('svc-user@example.com', true), signal()), { status: 'active', groups: ['Staff'] });
  t.equal(okta.requests('/oauth2/v1/token') - tokens, 1, 'one token for four lookups');
  const form = new URLSearchParams(okta.received('/oauth2/v1/token').at(-1)?.body);
  t.equal(form.get('scope'), 'okta.users.read okta.groups.read');
  t.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  const assertion = decodeJwt(form.get('client_assertion') ?? '');
  t.same(assertion.header, { alg: 'RS256', typ: 'JWT', kid: 'rsa-1' });
  t.match(assertion.claims, { iss: CLIENT_ID, sub: CLIENT_ID, aud: okta.tokenUrl, jti: String });
  t.equal(Number(assertion.claims.exp) - Number(assertion.claims.iat), 300, 'a five-minute assertion');
  t.equal(okta.received('/api/v1/users/svc-user').at(-1)?.headers.authorization?.startsWith('Bearer '), true, 'bearer token');

  t.same(await idp.lookup(device('guo-oauth', true), signal()), { status: 'active', groups: [] });
  t.equal(new URLSearchParams(okta.received('/oauth2/v1/token').at(-1)?.body).get('scope'), 'okta.devices.read', 'devices use their own scope');
  t.equal(okta.requests('/oauth2/v1/token') - tokens, 2);

  clock += 3600_000;
  await idp.lookup(user('svc-user@example.com'), signal());
  t.equal(okta.requests('/oauth2/v1/token') - tokens, 3, 'renewed after expiry (with a fresh jti)');

  okta.revokeTokens();
  t.same(await idp.lookup(user('svc-user@example.com'), signal()), { status: 'active', groups: [] }, 'a revoked token is replaced');
  t.equal(okta.requests('/oauth2/v1/token') - tokens, 4);
});

t.test('oauth: private_key_jwt with an EC P-256 key', async (t) => {
  const org = await startFake(t, () => FakeOkta.start({ serviceApp: { clientId: CLIENT_ID, publicKey: ec.publicKey } }));
  org.setUser({ login: 'ec@example.com', groups: ['EC'] });
  const idp = provider({ kind: 'oauth', clientId: CLIENT_ID, privateKeyPem: pem(ec.privateKey) }, {}, org);
  t.same(await idp.lookup(user('ec@example.com', true), signal()), { status: 'active', groups: ['EC'] });
  const assertion = decodeJwt(new URLSearchParams(org.received('/oauth2/v1/token')[0]?.body).get('client_assertion') ?? '');
  t.same(assertion.header, { alg: 'ES256', typ: 'JWT' });
});

t.test('oauth refusals: wrong key, wrong kid, scope not granted, unusable key', async (t) => {
  okta.setUser({ login: 'refused@example.com' });
  const otherKey = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  await expectFailure(t, provider({ ...rsaAuth, privateKeyPem: otherKey }).lookup(user('refused@example.com'), signal()), 'auth-failed');
  await expectFailure(t, provider({ ...rsaAuth, keyId: 'rsa-2' }).lookup(user('refused@example.com'), signal()), 'auth-failed');

  const narrow = await startFake(t, () => FakeOkta.start({ serviceApp: { clientId: CLIENT_ID, publicKey: rsa.publicKey }, grantedScopes: ['okta.users.read', 'okta.groups.read'] }));
  narrow.setUser({ login: 'narrow@example.com' });
  narrow.setDevice({ id: 'guo-narrow' });
  const idp = provider(rsaAuth, {}, narrow);
  t.same(await idp.lookup(user('narrow@example.com'), signal()), { status: 'active', groups: [] }, 'users work without the device scope');
  const denied = await expectFailure(t, idp.lookup(device('guo-narrow', true), signal()), 'auth-failed');
  t.match(denied?.message ?? '', /invalid_scope/);

  t.throws(() => provider({ kind: 'oauth', clientId: CLIENT_ID, privateKeyPem: pem(generateKeyPairSync('ed25519').privateKey) }), { name: 'Error' }, 'an unusable key fails at construction');
});

t.test('failures: 429 with X-Rate-Limit-Reset, slow, 500, closed port, not JSON, wrong shapes', async (t) => {
  const idp = provider();
  okta.setUser({ login: 'fail@example.com' });

  okta.rateLimitNext(1, 30, '/api/v1/');
  const limited = await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'rate-limited');
  t.ok(limited?.retryAfterMs !== undefined && limited.retryAfterMs > 28_000 && limited.retryAfterMs <= 30_000, `X-Rate-Limit-Reset read (${String(limited?.retryAfterMs)} ms)`);

  okta.setDelay(1000);
  t.teardown(() => okta.setDelay(0));
  await expectFailure(t, idp.lookup(user('fail@example.com'), AbortSignal.timeout(200)), 'timeout');
  okta.setDelay(0);

  okta.failNext(1, 500, '/api/v1/');
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'http-error');
  okta.malformedNext(1, '/api/v1/');
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'bad-response');
  okta.respondNext(1, { path: '/api/v1/', status: 200, body: { id: '00u1', profile: { login: 'fail@example.com' } } });
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'bad-response');
  okta.respondNext(1, { path: '/api/v1/', status: 404, body: { errorCode: 'E0000022', errorSummary: 'The endpoint does not support the provided HTTP method' } });
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'http-error');

  const url = await closedUrl();
  await expectFailure(t, provider({ kind: 'api-token', token: 'x' }, { orgUrl: url }).lookup(user('fail@example.com'), signal()), 'network');
});
