import t from 'tap';
import { EntraProvider, type EntraOptions } from '../../src/policy/identity/entra.ts';
import { FakeEntra } from '../support/fake-entra.ts';
import { closedUrl } from '../support/fake-http.ts';
import { device, expectFailure, signal, startFake, user } from '../support/idp-test-kit.ts';

const entra = await startFake(t, () => FakeEntra.start());

/** A provider with its own token cache, pointed at the fake for both login and Graph. */
function provider(options: Partial<EntraOptions> = {}): EntraProvider {
  return new EntraProvider({ name: 'entra', tenantId: entra.tenantId, clientId: entra.clientId, clientSecret: entra.clientSecret, loginUrl: entra.url, graphUrl: entra.url, ...options });
}

t.test('users: active, disabled, not found, by UPN and by object id', async (t) => {
  const idp = provider();
  const objectId = entra.setUser({ userPrincipalName: 'Alice.Smith@example.com', groups: ['Staff', 'VPN'] });
  entra.setUser({ userPrincipalName: 'bob.jones@example.com', accountEnabled: false, groups: ['Staff'] });

  t.same(await idp.lookup(user('alice.smith@example.com'), signal()), { status: 'active', groups: [] }, 'UPN, case-insensitive, no groups asked');
  t.same(await idp.lookup(user(objectId, true), signal()), { status: 'active', groups: ['Staff', 'VPN'] }, 'object id, with groups');
  t.same(await idp.lookup(user('bob.jones@example.com', true), signal()), { status: 'disabled', groups: ['Staff'], detail: 'accountEnabled=false' }, 'disabled');
  t.same(await idp.lookup(user('nobody@example.com', true), signal()), { status: 'not-found' }, 'unknown UPN');

  const before = entra.requests('/v1.0/');
  for (const id of ['', '.', '..']) t.same(await idp.lookup(user(id), signal()), { status: 'not-found' }, `"${id}" is no user`);
  t.equal(entra.requests('/v1.0/'), before, 'and costs no request');
});

t.test('the user request selects accountEnabled and groups are asked only when needed', async (t) => {
  const idp = provider();
  const objectId = entra.setUser({ userPrincipalName: 'select@example.com', groups: ['A'] });
  await idp.lookup(user('select@example.com'), signal());
  const [request] = entra.received('/v1.0/users/select%40example.com');
  t.equal(request?.query.get('$select'), 'id,userPrincipalName,accountEnabled');
  t.equal(request?.headers.authorization?.startsWith('Bearer '), true, 'bearer token');
  t.equal(entra.requests(`/v1.0/users/${objectId}/transitiveMemberOf`), 0, 'no group request');
});

t.test('groups: every page through @odata.nextLink, capped', async (t) => {
  const idp = provider();
  const groups = ['G1', 'G2', 'G3', 'G4', 'G5'];
  const objectId = entra.setUser({ userPrincipalName: 'paged@example.com', groups });
  entra.groupPageSize = 2;
  t.teardown(() => {
    entra.groupPageSize = 100;
  });
  t.same(await idp.lookup(user('paged@example.com', true), signal()), { status: 'active', groups });
  const pages = entra.received(`/v1.0/users/${objectId}/transitiveMemberOf/microsoft.graph.group`);
  t.equal(pages.length, 3, 'three pages');
  t.equal(pages[0]?.query.get('$select'), 'id,displayName');
  t.equal(pages[0]?.query.get('$top'), '999', 'asks for the largest page');

  entra.groupPageSize = 1;
  entra.setUser({ userPrincipalName: 'many@example.com', groups: Array.from({ length: 21 }, (_, i) => `M${i}`) });
  await expectFailure(t, idp.lookup(user('many@example.com', true), signal()), 'bad-response');
  entra.setUser({ userPrincipalName: 'twenty@example.com', groups: Array.from({ length: 20 }, (_, i) => `T${i}`) });
  t.equal((await idp.lookup(user('twenty@example.com', true), signal())).status, 'active', '20 pages are read');
});

t.test('groups: a nextLink to another origin is refused (the token would go there)', async (t) => {
  const idp = provider();
  const objectId = entra.setUser({ userPrincipalName: 'link@example.com', groups: ['A'] });
  entra.respondNext(1, { path: `/v1.0/users/${objectId}/transitiveMemberOf`, status: 200, body: { value: [], '@odata.nextLink': 'https://graph.example.net/v1.0/next' } });
  await expectFailure(t, idp.lookup(user('link@example.com', true), signal()), 'bad-response');
});

t.test('devices: by deviceId, with groups', async (t) => {
  const idp = provider();
  const deviceId = 'a1b2c3d4-0000-4000-8000-000000000001';
  const objectId = entra.setDevice({ deviceId, groups: ['Corporate laptops'] });
  entra.setDevice({ deviceId: 'a1b2c3d4-0000-4000-8000-000000000002', accountEnabled: false });

  t.same(await idp.lookup(device(deviceId, true), signal()), { status: 'active', groups: ['Corporate laptops'] });
  const [list] = entra.received('/v1.0/devices');
  t.equal(list?.query.get('$filter'), `deviceId eq '${deviceId}'`);
  t.equal(list?.query.get('$select'), 'id,deviceId,accountEnabled,displayName');
  t.equal(entra.requests(`/v1.0/devices/${objectId}/transitiveMemberOf/microsoft.graph.group`), 1, 'device groups by object id');
  t.same(await idp.lookup(device('a1b2c3d4-0000-4000-8000-000000000002'), signal()), { status: 'disabled', groups: [], detail: 'accountEnabled=false' });
  t.same(await idp.lookup(device('a1b2c3d4-0000-4000-8000-00000000ffff'), signal()), { status: 'not-found' });
});

t.test("identifiers with '/', \"'\", '#', '$' and spaces reach Graph intact", async (t) => {
  const idp = provider();
  entra.setUser({ userPrincipalName: "o'neil/ops#1@example.com", groups: ['Odd'] });
  t.same(await idp.lookup(user("o'neil/ops#1@example.com", true), signal()), { status: 'active', groups: ['Odd'] });
  t.equal(entra.requests("/v1.0/users/o'neil%2Fops%231%40example.com"), 1, 'one path segment');

  // user-get: a UPN that starts with '$' is addressed as users('…').
  entra.setUser({ userPrincipalName: "$svc'x@example.com" });
  t.same(await idp.lookup(user("$svc'x@example.com"), signal()), { status: 'active', groups: [] });
  t.equal(entra.requests("/v1.0/users('%24svc''x%40example.com')"), 1, 'key in parentheses, quote doubled');

  const odd = "dev'ice #1/x";
  entra.setDevice({ deviceId: odd });
  t.same(await idp.lookup(device(odd), signal()), { status: 'active', groups: [] });
  const request = entra.received('/v1.0/devices').at(-1);
  t.equal(request?.query.get('$filter'), "deviceId eq 'dev''ice #1/x'", "quote doubled in the OData literal");
});

t.test('tokens: one for many lookups, renewed before expiry, dropped after a 401', async (t) => {
  let clock = Date.now();
  const idp = provider({ now: () => clock });
  entra.setUser({ userPrincipalName: 'tok@example.com' });
  const tokens = entra.requests(entra.tokenPath);
  await Promise.all([1, 2, 3].map(() => idp.lookup(user('tok@example.com'), signal())));
  for (let i = 0; i < 3; i += 1) await idp.lookup(user('tok@example.com'), signal());
  t.equal(entra.requests(entra.tokenPath) - tokens, 1, 'one token request for six lookups');

  const [tokenRequest] = entra.received(entra.tokenPath).slice(-1);
  const form = new URLSearchParams(tokenRequest?.body);
  t.same(Object.fromEntries(form), { client_id: entra.clientId, client_secret: entra.clientSecret, grant_type: 'client_credentials', scope: 'https://graph.microsoft.com/.default' }, 'token form');

  clock += 3540_000; // expires_in 3599 s: renewed 60 s early
  await idp.lookup(user('tok@example.com'), signal());
  t.equal(entra.requests(entra.tokenPath) - tokens, 2, 'a new token once the old one is near expiry');

  entra.revokeTokens();
  const graph = entra.requests('/v1.0/users/tok');
  t.same(await idp.lookup(user('tok@example.com'), signal()), { status: 'active', groups: [] }, 'a revoked token is replaced');
  t.equal(entra.requests(entra.tokenPath) - tokens, 3, 'one more token');
  t.equal(entra.requests('/v1.0/users/tok') - graph, 2, 'the request is sent again once');

  entra.respondNext(2, { path: '/v1.0/', status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'Access token has expired.' } } });
  await expectFailure(t, idp.lookup(user('tok@example.com'), signal()), 'auth-failed');
  t.equal(entra.requests(entra.tokenPath) - tokens, 4, 'a second 401 is not retried again');
});

t.test('token endpoint refusals are auth-failed and never echo the secret', async (t) => {
  const wrongSecret = await expectFailure(t, provider({ clientSecret: 'not-the-secret' }).lookup(user('x@example.com'), signal()), 'auth-failed');
  t.notMatch(wrongSecret?.message ?? '', /not-the-secret/, 'no secret in the message');
  const wrongTenant = await expectFailure(t, provider({ tenantId: 'other-tenant' }).lookup(user('x@example.com'), signal()), 'auth-failed');
  t.match(wrongTenant?.message ?? '', /invalid_tenant/, 'the OAuth2 error code is named');
  await expectFailure(t, provider({ clientId: 'someone-else' }).lookup(user('x@example.com'), signal()), 'auth-failed');
});

t.test('failures: 429, slow, 500, closed port, not JSON, wrong shapes', async (t) => {
  const idp = provider();
  entra.setUser({ userPrincipalName: 'fail@example.com' });
  await idp.lookup(user('fail@example.com'), signal()); // token cached: the faults hit Graph

  entra.rateLimitNext(1, 7, '/v1.0/');
  const limited = await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'rate-limited');
  t.equal(limited?.retryAfterMs, 7000, 'Retry-After in ms');

  entra.setDelay(1000);
  t.teardown(() => entra.setDelay(0));
  const started = Date.now();
  await expectFailure(t, idp.lookup(user('fail@example.com'), AbortSignal.timeout(200)), 'timeout');
  t.ok(Date.now() - started < 900, 'gives up at the deadline');
  entra.setDelay(0);

  entra.failNext(1, 500, '/v1.0/');
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'http-error');
  entra.malformedNext(1, '/v1.0/');
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'bad-response');
  entra.respondNext(1, { path: '/v1.0/', status: 200, body: { id: 'x', userPrincipalName: 'fail@example.com' } });
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'bad-response');
  entra.respondNext(1, { path: '/v1.0/', status: 404, body: { error: { code: 'BadRequest', message: 'Invalid version.' } } });
  await expectFailure(t, idp.lookup(user('fail@example.com'), signal()), 'http-error');
  entra.respondNext(1, { path: '/v1.0/devices', status: 200, body: { value: [{ id: 'a', accountEnabled: true }, { id: 'b', accountEnabled: true }] } });
  await expectFailure(t, idp.lookup(device('dup'), signal()), 'bad-response');

  const url = await closedUrl();
  await expectFailure(t, provider({ loginUrl: url, graphUrl: url }).lookup(user('fail@example.com'), signal()), 'network');
});
