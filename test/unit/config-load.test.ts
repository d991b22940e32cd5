import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.ts';
import {
  CONFIG_ENV_VAR,
  DEFAULT_CONFIG_PATH,
  REDACTED,
  loadConfig,
  normalizeSerial,
  parseConfig,
  redactConfig,
  resolveConfigPath,
} from '../../src/config/index.ts';
import type { Config, Matcher } from '../../src/config/index.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const minimalPath = join(repo, 'test/fixtures/config/minimal.yaml');
const minimal = readFileSync(minimalPath, 'utf8');

/** `minimal` with `policy:` replaced by the given YAML block (which must start with `policy:`). */
function withPolicy(policy: string): string {
  return minimal.slice(0, minimal.indexOf('policy:')) + policy;
}

/** Every object reachable from `value`, with its path. */
function* objectsIn(value: unknown, path = 'config'): Generator<[string, object]> {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return;
  yield [path, value];
  for (const key of Reflect.ownKeys(value)) {
    yield* objectsIn((value as Record<PropertyKey, unknown>)[key], `${path}.${String(key)}`);
  }
}

t.test('the example and dev configurations load', async (t) => {
  const example = await loadConfig(join(repo, 'config/portcullis.example.yaml'));
  t.equal(example.clients.length, 2);
  t.ok(example.policy.rules.length >= 3);
  t.same(example.warnings, [], 'the example has nothing to warn about');

  const dev = await loadConfig(join(repo, 'config/portcullis.dev.yaml'));
  t.same(
    dev.listen.map((l) => [l.address, l.family, l.port]),
    [
      ['127.0.0.1', 4, 1812],
      ['::1', 6, 1812],
    ],
  );
  const [localhost] = dev.clients;
  t.equal(localhost?.name, 'localhost');
  t.equal(localhost?.secret, 'testing123');
  for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    t.ok(localhost?.addresses.some((cidr) => cidr.contains(address)), `localhost covers ${address}`);
  }
  t.notOk(localhost?.addresses.some((cidr) => cidr.contains('127.0.0.2')));
  t.equal(dev.tls.certificate, join(repo, 'certs-dev/out/server.pem'), 'dev PKI paths resolve against config/');
  t.same(dev.tls.trustAnchors, [join(repo, 'certs-dev/out/root-ca.pem')]);
  t.match(dev.warnings, [/portcullis\.dev\.yaml:\d+ clients\[0\]\.secret: shorter than 16 characters/]);
  t.same(dev.policy.default, { action: 'reject', reason: 'no-matching-rule' });
});

t.test('defaults are applied', async (t) => {
  const c = parseConfig(minimal, 'minimal.yaml', { baseDir: '/etc/portcullis' });
  t.same(c.listen, [{ address: '127.0.0.1', family: 4, port: 1812 }]);
  t.same(c.log, { level: 'info', pretty: false });
  t.same(c.tls, {
    certificate: '/etc/portcullis/pki/server.pem',
    privateKey: '/etc/portcullis/pki/server.key',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    trustAnchors: ['/etc/portcullis/pki/root-ca.pem'],
    intermediates: [],
    crlFiles: [],
    requireClientAuthEku: true,
    maxFragmentSize: 1024,
    resumption: true,
    resumptionLifetimeSeconds: 3600,
  });
  t.notOk('privateKeyPassphrase' in c.tls, 'an absent option is absent, not undefined');
  t.same(c.eap, {
    idleTimeoutSeconds: 30,
    maxRounds: 40,
    maxSessions: 10000,
    maxSessionsPerClient: 2000,
    maxTlsMessageBytes: 65536,
    workers: 'auto',
  });
  t.equal(c.clients[0]?.requireMessageAuthenticator, true);
  t.equal(c.clients[0]?.maxSessions, 2000, 'per-client cap defaults to eap.max_sessions_per_client');
  t.same(c.policy.rules, []);
  t.same(c.warnings, []);
});

t.test('per-client max_sessions overrides eap.max_sessions_per_client', async (t) => {
  const text = `${minimal.replace('    secret: a-long', '    max_sessions: 7\n    secret: a-long')}eap:\n  max_sessions_per_client: 99\n`;
  const c = parseConfig(text, 'x.yaml');
  t.equal(c.clients[0]?.maxSessions, 7);
  t.equal(c.eap.maxSessionsPerClient, 99);
});

t.test('relative paths resolve against the configuration directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-config-'));
  const file = join(dir, 'portcullis.yaml');
  await writeFile(file, minimal.replace('certificate: pki/server.pem', 'certificate: /abs/server.pem'));
  const loaded = await loadConfig(file);
  t.equal(loaded.tls.privateKey, join(dir, 'pki/server.key'));
  t.equal(loaded.tls.certificate, '/abs/server.pem', 'absolute paths stay as they are');
  const parsed = parseConfig(minimal, join(dir, 'sub', 'named.yaml'));
  t.equal(parsed.tls.privateKey, join(dir, 'sub', 'pki/server.key'), 'default baseDir: the directory of sourceName');
  const explicit = parseConfig(minimal, 'whatever.yaml', { baseDir: '/srv/radius' });
  t.same(explicit.tls.trustAnchors, ['/srv/radius/pki/root-ca.pem']);
});

t.test('the result is deeply frozen', async (t) => {
  const c = await loadConfig(join(repo, 'config/portcullis.example.yaml'));
  let count = 0;
  for (const [path, object] of objectsIn(c)) {
    count += 1;
    if (!Object.isFrozen(object)) t.fail(`${path} is not frozen`);
  }
  t.ok(count > 50, `checked ${count} objects`);
  t.throws(() => {
    (c.clients as Config['clients'][number][]).push(c.clients[0] as Config['clients'][number]);
  });
  t.throws(() => {
    (c.tls as { maxFragmentSize: number }).maxFragmentSize = 1;
  });
});

t.test('redactConfig hides every secret and leaves the configuration alone', async (t) => {
  const [first, second, passphrase] = ['first-client-secret-value', 'second-secret-value-here', 'key-passphrase-value'] as const;
  const text = minimal
    .replace('a-long-enough-shared-secret', `${first}\n  - name: nas-two\n    address: 198.51.100.0/24\n    secret: ${second}`)
    .replace('trust_anchors: [pki/root-ca.pem]', `trust_anchors: [pki/root-ca.pem]\n  private_key_passphrase: ${passphrase}`);
  const c = parseConfig(text, 'r.yaml');
  t.equal(c.clients.length, 2);
  t.equal(c.tls.privateKeyPassphrase, passphrase, 'the configuration keeps the real values');
  const redacted = JSON.stringify(redactConfig(c));
  for (const secret of [first, second, passphrase]) t.notOk(redacted.includes(secret), 'secret absent from the redacted copy');
  t.equal(redacted.split(`"${REDACTED}"`).length - 1, 3, 'three values redacted');
  t.equal(c.clients[1]?.secret, second, 'redaction did not touch the original');
  t.match(redactConfig(c), { clients: [{ name: 'nas-one', addresses: ['192.0.2.0/24'] }, { name: 'nas-two' }] });
  t.same(
    redactConfig(c.clients[0] as unknown as Config),
    { name: 'nas-one', addresses: ['192.0.2.0/24'], secret: REDACTED, requireMessageAuthenticator: true, maxSessions: 2000 },
    'one client can be redacted on its own',
  );
  t.notOk(JSON.stringify(Object.keys(c.clients[0] ?? {})).includes('Symbol'), 'the secret mark is not an enumerable key');
});

t.test('matchers, VLANs, serials and replies are compiled', async (t) => {
  const c = parseConfig(
    withPolicy(`policy:
  rules:
    - name: r1
      match:
        cert_subject: { CN: { regex: '^laptop-[0-9]+$', flags: i }, OU: [Staff, { prefix: Fac }] }
        san_email: { suffix: '@example.com' }
        cert_serial: ['00:0a:1B', 'FF']
        client: nas-one
      action: accept
      vlan: 100
      reply: { session_timeout: 60, reply_message: hello, filter_id: acl-1 }
    - name: r2
      match:
      action: accept
      vlan: "guests"
    - name: r3
      action: accept
      vlan: "42"
  default:
    action: accept
`),
    'm.yaml',
  );
  const [r1, r2, r3] = c.policy.rules;
  const cn = r1?.match.certSubject?.CN?.[0];
  t.equal(cn?.kind, 'regex');
  if (cn?.kind === 'regex') {
    t.ok(cn.regex.test('LAPTOP-42'));
    t.notOk(cn.regex.test('laptop-x'));
    t.equal(cn.source, '^laptop-[0-9]+$');
    t.equal(cn.flags, 'i');
  }
  t.same(r1?.match.certSubject?.OU, [
    { kind: 'exact', value: 'Staff' },
    { kind: 'prefix', value: 'Fac' },
  ] satisfies Matcher[]);
  t.same(r1?.match.sanEmail, [{ kind: 'suffix', value: '@example.com' }]);
  t.same(r1?.match.certSerial, ['A1B', 'FF']);
  t.same(r1?.match.client, ['nas-one']);
  const reply = { sessionTimeout: 60, replyMessage: 'hello', filterId: 'acl-1' };
  t.same(r1?.decision, { action: 'accept', vlan: '100', reply });
  t.same(r2?.match, {}, 'an empty match matches everything');
  t.same(r2?.decision, { action: 'accept', vlan: 'guests', reply: {} });
  t.same(r3?.match, {}, 'an omitted match matches everything');
  t.equal(r3?.decision.action === 'accept' ? r3.decision.vlan : undefined, '42');
  t.same(c.policy.default, { action: 'accept', reply: {} });
});

t.test('normalizeSerial', async (t) => {
  t.equal(normalizeSerial('00:0a:1B'), 'A1B');
  t.equal(normalizeSerial('0'), '0');
  t.equal(normalizeSerial('00'), '0');
  t.equal(normalizeSerial('7F 00 EE'), '7F00EE');
  t.equal(normalizeSerial('xyz'), undefined);
  t.equal(normalizeSerial(''), undefined);
  t.equal(normalizeSerial(':'), undefined);
});

t.test('warnings name the path and line, never the secret', async (t) => {
  const text = minimal
    .replace('a-long-enough-shared-secret', 'short-ish')
    .replace('    address: 192.0.2.0/24\n', '    address: [192.0.2.0/24, 0.0.0.0/0]\n    require_message_authenticator: false\n');
  const c = parseConfig(text, 'w.yaml');
  t.same(c.warnings.length, 3);
  t.match(c.warnings[0], /^w\.yaml:10 clients\[0\]\.address\[1\]: 0\.0\.0\.0\/0 accepts requests from every IPv4 address$/);
  t.match(c.warnings[1], /^w\.yaml:11 clients\[0\]\.require_message_authenticator: false: .*Message-Authenticator/);
  t.match(c.warnings[2], /^w\.yaml:12 clients\[0\]\.secret: shorter than 16/);
  t.notOk(c.warnings.join('\n').includes('short-ish'));
});

t.test('resolveConfigPath: argument, then PORTCULLIS_CONFIG, then the dev file', async (t) => {
  const saved = process.env[CONFIG_ENV_VAR];
  t.teardown(() => {
    if (saved === undefined) delete process.env[CONFIG_ENV_VAR];
    else process.env[CONFIG_ENV_VAR] = saved;
  });
  process.env[CONFIG_ENV_VAR] = '/from/env.yaml';
  t.equal(resolveConfigPath('/from/arg.yaml'), '/from/arg.yaml');
  t.equal(resolveConfigPath(), '/from/env.yaml');
  t.equal(resolveConfigPath(''), '/from/env.yaml', 'an empty argument counts as absent');
  process.env[CONFIG_ENV_VAR] = '';
  t.equal(resolveConfigPath(), DEFAULT_CONFIG_PATH, 'an empty variable counts as absent');
  delete process.env[CONFIG_ENV_VAR];
  t.equal(resolveConfigPath(), join(repo, 'config/portcullis.dev.yaml'));
  t.ok(existsSync(DEFAULT_CONFIG_PATH));
});

t.test('loadConfig: an unreadable file is a ConfigError naming the path', async (t) => {
  const missing = join(tmpdir(), 'portcullis-no-such-dir', 'nope.yaml');
  const error: unknown = await loadConfig(missing).catch((caught: unknown) => caught);
  t.ok(error instanceof ConfigError);
  t.same(error instanceof ConfigError ? error.problems : [], [`${missing}: cannot read the configuration file (ENOENT)`]);
});

t.test('a configuration serialises to JSON without losing networks', async (t) => {
  const c = parseConfig(minimal, 'j.yaml');
  t.match(JSON.parse(JSON.stringify(c)), { clients: [{ addresses: ['192.0.2.0/24'] }] });
});

t.test('the example in docs/configuration.md is valid', async (t) => {
  const doc = readFileSync(join(repo, 'docs/configuration.md'), 'utf8');
  const block = /## Example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  t.ok(block, 'the doc has an example block');
  const c = parseConfig(block ?? '', 'configuration.md');
  t.same(
    c.listen.map((l) => l.address),
    ['::'],
  );
  t.equal(c.clients[0]?.addresses.length, 2);
});
