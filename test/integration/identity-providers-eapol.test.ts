/**
 * The same table of directory states through each provider's production client and a local
 * server speaking that provider's API (Okta, Google Workspace, a webhook), end to end with
 * eapol_test: group → its VLAN, active → the employees VLAN, disabled / unknown / failing →
 * refused with the reason. Entra has its own, longer test (identity-eapol.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { authenticate, expectAccept, expectReject } from '../support/eapol-checks.ts';
import { FakeGoogle } from '../support/fake-google.ts';
import { FakeOkta } from '../support/fake-okta.ts';
import type { FakeHttpServer } from '../support/fake-http.ts';
import { FakeWebhook } from '../support/fake-webhook.ts';
import { identityPolicy } from '../support/identity-policy.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const POLICY = identityPolicy();

/** One provider under test: how to set the dev client `client-ec` up in each state. */
interface Directory {
  readonly fake: FakeHttpServer;
  readonly yaml: string;
  readonly apiPrefix: string;
  active(groups: readonly string[]): void;
  disabled(): void;
  forget(): void;
}

function identityYaml(provider: string, key: string): string {
  return `
identity:
  providers:
${provider}
      timeout_ms: 1000
      cache_ttl_seconds: 0
      negative_cache_ttl_seconds: 0
      failure_cooldown_seconds: 0
  lookups:
    - name: people
      provider: directory
      key: ${key}
`;
}

async function okta(): Promise<Directory> {
  const fake = await FakeOkta.start();
  const login = 'alice@ad.portcullis.test';
  return {
    fake,
    apiPrefix: '/api/v1/users/',
    yaml: identityYaml(`    - name: directory\n      type: okta\n      org_url: ${fake.url}\n      api_token: ${fake.apiToken}`, 'san_upn'),
    active: (groups) => void fake.setUser({ login, status: 'ACTIVE', groups }),
    disabled: () => void fake.setUser({ login, status: 'SUSPENDED' }),
    forget: () => fake.deleteUser(login),
  };
}

async function google(): Promise<Directory> {
  const fake = await FakeGoogle.start();
  const keyFile = join(mkdtempSync(join(tmpdir(), 'portcullis-google-')), 'service-account.json');
  writeFileSync(keyFile, fake.serviceAccountJson, { mode: 0o600 });
  const primaryEmail = 'alice@portcullis.test';
  return {
    fake,
    apiPrefix: '/admin/directory/v1/',
    yaml: identityYaml(
      `    - name: directory\n      type: google\n      service_account_file: ${keyFile}\n      subject: ${fake.subject}\n      directory_url: ${fake.url}`,
      'san_email',
    ),
    active: (groups) => fake.setUser({ primaryEmail, groups: groups.map((name) => ({ name, email: `${name.toLowerCase()}@portcullis.test` })) }),
    disabled: () => fake.setUser({ primaryEmail, suspended: true, suspensionReason: 'ADMIN' }),
    forget: () => fake.deleteUser(primaryEmail),
  };
}

async function webhook(): Promise<Directory> {
  const fake = await FakeWebhook.start();
  const id = 'laptop-ec.portcullis.test';
  return {
    fake,
    apiPrefix: '/identity',
    yaml: identityYaml(`    - name: directory\n      type: webhook\n      url: ${fake.endpoint}\n      headers: { Authorization: ${fake.authorization} }`, 'subject_cn'),
    active: (groups) => fake.setEntry({ id, status: 'active', groups }),
    disabled: () => fake.setEntry({ id, status: 'disabled', detail: 'left the company' }),
    forget: () => fake.deleteEntry('user', id),
  };
}

async function table(t: Test, directory: Directory, disabledDetail: RegExp): Promise<void> {
  t.teardown(() => directory.fake.close());
  const server: TestServer = await startTestServer(t, { policyYaml: POLICY, extraYaml: directory.yaml });
  await t.test('active, in Engineering: VLAN 100', async (t) => {
    directory.active(['Engineering']);
    expectAccept(t, await authenticate(server, { client: 'client-ec', tls: 'TLSv1.3' }), { rule: 'engineering', vlan: 100 });
  });
  await t.test('active, other groups: VLAN 300', async (t) => {
    directory.active(['Sales']);
    expectAccept(t, await authenticate(server, { client: 'client-ec', tls: 'TLSv1.2' }), { rule: 'employees', vlan: 300 });
  });
  await t.test('disabled: identity-disabled', async (t) => {
    directory.disabled();
    const run = await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-disabled' });
    t.match(run.decisions[0], { detail: disabledDetail }, 'the provider\'s words in the detail');
  });
  await t.test('unknown: identity-not-found', async (t) => {
    directory.forget();
    await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-not-found' });
  });
  await t.test('failing: identity-unavailable', async (t) => {
    directory.active(['Engineering']);
    directory.fake.failNext(1, 503, directory.apiPrefix);
    const run = await expectReject(t, server, { client: 'client-ec', tls: 'TLSv1.3' }, { reason: 'identity-unavailable' });
    t.match(run.decisions[0], { detail: /http-error/ });
  });
}

t.test('Okta', async (t) => table(t, await okta(), /SUSPENDED/));
t.test('Google Workspace', async (t) => table(t, await google(), /suspended/));
t.test('webhook', async (t) => table(t, await webhook(), /left the company/));
