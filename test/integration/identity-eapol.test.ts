/**
 * Identity-provider status end to end: eapol_test and the in-process supplicant authenticate
 * against a server whose lookups ask a local Microsoft Entra ID (token endpoint + Graph) through
 * the production client. Active users land on their group's VLAN, a disabled or unknown user is
 * refused with its reason, a provider that is down gives reject or accept as configured, a 429
 * cools the provider down, and a resumed session is checked again.
 */
import t, { type Test } from 'tap';
import { authenticate, expectAccept, expectReject } from '../support/eapol-checks.ts';
import { FakeEntra } from '../support/fake-entra.ts';
import { testSupplicant } from '../support/supplicant.ts';
import { identityPolicy } from '../support/identity-policy.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const ALICE = 'alice@ad.portcullis.test';
const BOB = 'bob@ad.portcullis.test';

const POLICY = identityPolicy(`    - name: directory-down
      match: { identity: { status: unavailable } }
      action: accept
      vlan: 999`);

function identityYaml(entra: FakeEntra, options: { onUnavailable: 'reject' | 'accept'; cacheTtl: number; cooldown?: number }): string {
  return `
identity:
  providers:
    - name: corp
      type: entra
      tenant_id: ${entra.tenantId}
      client_id: ${entra.clientId}
      client_secret: ${entra.clientSecret}
      login_url: ${entra.url}
      graph_url: ${entra.url}
      timeout_ms: 400
      cache_ttl_seconds: ${options.cacheTtl}
      negative_cache_ttl_seconds: ${options.cacheTtl}
      failure_cooldown_seconds: ${options.cooldown ?? 0}
      on_unavailable: ${options.onUnavailable}
  lookups:
    - name: staff
      provider: corp
      key: san_upn
`;
}

async function setUp(t: Test, options: { onUnavailable: 'reject' | 'accept'; cacheTtl: number; cooldown?: number }): Promise<{ entra: FakeEntra; server: TestServer }> {
  const entra = await FakeEntra.start();
  t.teardown(() => entra.close());
  entra.setUser({ userPrincipalName: ALICE, accountEnabled: true, groups: ['Engineering', 'All Staff'] });
  entra.setUser({ userPrincipalName: BOB, accountEnabled: true, groups: ['All Staff'] });
  const server = await startTestServer(t, { policyYaml: POLICY, extraYaml: identityYaml(entra, options) });
  return { entra, server };
}

t.test('a table of directory states gives the configured outcomes (hard-fail)', async (t) => {
  const { entra, server } = await setUp(t, { onUnavailable: 'reject', cacheTtl: 0 });
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    await t.test(`${tls}: active, in Engineering: VLAN 100`, async (t) => {
      const run = await authenticate(server, { client: 'client-ec', tls });
      expectAccept(t, run, { rule: 'engineering', vlan: 100 });
      t.type(run.decisions[0]?.['identity'], 'string', 'the EAP identity keeps its field');
      t.match(run.decisions[0], { identity_lookups: [{ lookup: 'staff', provider: 'corp', key: ALICE, status: 'active', groups: ['Engineering', 'All Staff'], cached: false }] }, 'the decision line carries the lookup');
    });
    await t.test(`${tls}: active, no group rule: VLAN 300`, async (t) => {
      expectAccept(t, await authenticate(server, { client: 'client-rsa', tls }), { rule: 'employees', vlan: 300 });
    });
  }
  await t.test('disabled: refused with the provider\'s words', async (t) => {
    entra.setUser({ userPrincipalName: ALICE, accountEnabled: false, groups: ['Engineering'] });
    const run = await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-disabled' });
    t.match(run.decisions[0], { detail: /accountEnabled=false/ }, 'detail says why');
  });
  await t.test('not in the directory: refused', async (t) => {
    entra.deleteUser(ALICE);
    await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.2' }, { reason: 'identity-not-found' });
    entra.setUser({ userPrincipalName: ALICE, accountEnabled: true, groups: ['Engineering'] });
  });
  await t.test('directory answering 500: refused (hard-fail)', async (t) => {
    entra.failNext(1, 500, '/v1.0/');
    await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-unavailable' });
  });
  await t.test('directory slower than the timeout: refused within the timeout', async (t) => {
    entra.setDelay(1500);
    const started = Date.now();
    const run = await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-unavailable' });
    entra.setDelay(0);
    t.match(run.decisions[0], { detail: /timeout/ }, 'the detail says timeout');
    t.ok(Date.now() - started < 1500, 'the conversation did not wait for the slow answer');
  });
  await t.test('counters: answers by status, refusals by reason', async (t) => {
    t.ok((await server.metric('portcullis_identity_lookups_total', { provider: 'corp', status: 'active', cached: 'false' })) >= 4, 'active answers counted');
    t.equal(await server.metric('portcullis_identity_lookups_total', { provider: 'corp', status: 'disabled', cached: 'false' }), 1);
    t.equal(await server.metric('portcullis_identity_lookups_total', { provider: 'corp', status: 'unavailable', cached: 'false' }), 2);
    t.equal(await server.metric('portcullis_fail_open_total', { check: 'identity' }), 0, 'no fail-open under hard-fail');
  });
});

t.test('soft-fail: a directory that is down lets the rules decide, counted', async (t) => {
  const { entra, server } = await setUp(t, { onUnavailable: 'accept', cacheTtl: 0, cooldown: 30 });
  entra.rateLimitNext(1, 120, '/v1.0/');
  const run = await authenticate(server, { client: 'client-ec', tls: 'TLSv1.3' });
  expectAccept(t, run, { rule: 'directory-down', vlan: 999 });
  t.match(run.decisions[0], { identity_lookups: [{ status: 'unavailable', detail: /rate-limited/ }] });
  const graphCalls = entra.requests('/v1.0/');
  const again = await authenticate(server, { client: 'client-ec', tls: 'TLSv1.2' });
  expectAccept(t, again, { rule: 'directory-down', vlan: 999 });
  t.match(again.decisions[0], { identity_lookups: [{ status: 'unavailable', detail: /cooldown/ }] }, 'cooling down after the 429');
  t.equal(entra.requests('/v1.0/'), graphCalls, 'the provider is not asked during the cooldown');
  t.equal(await server.metric('portcullis_fail_open_total', { check: 'identity' }), 2, 'each fail-open counted');
});

t.test('cached answers, and a resumed session checked again', async (t) => {
  const { entra, server } = await setUp(t, { onUnavailable: 'reject', cacheTtl: 300 });
  const first = await authenticate(server, { client: 'client-ec', tls: 'TLSv1.3', args: ['-r1'] });
  expectAccept(t, first, { rule: 'engineering', vlan: 100, count: 2 });
  t.match(first.decisions.map((line) => [line['tls_resumed'], (line['identity_lookups'] as { cached: boolean }[])[0]?.cached]), [[false, false], [true, true]], 'the resumed authentication looked the user up again, from the cache');
  t.equal(entra.requests(`/v1.0/users/${encodeURIComponent(ALICE)}`), 1, 'one user request for two authentications');
  t.equal(entra.requests(entra.tokenPath), 1, 'one token');

  await t.test('a user disabled between two connections is refused on the resumed one', async (t) => {
    const { server: fresh, entra: directory } = await setUp(t, { onUnavailable: 'reject', cacheTtl: 0 });
    const run = await testSupplicant(fresh);
    const full = await run({ callingStationId: '02-00-00-00-00-01' });
    t.equal(full.outcome, 'accept', 'first connection accepted');
    directory.setUser({ userPrincipalName: ALICE, accountEnabled: false });
    const resumed = await run({ callingStationId: '02-00-00-00-00-01', session: full.session });
    t.ok(resumed.resumed, 'the second connection resumed the TLS session');
    t.equal(resumed.outcome, 'reject', 'and was refused');
    t.match(fresh.decisions().at(-1), { outcome: 'reject', reason: 'identity-disabled', tls_resumed: true });
  });
});
