/**
 * Operations of a running portcullis, in process (`start(configPath)`) with its operations HTTP
 * listener: the metrics a table of real eapol_test runs moves, the expiry gauges and warnings
 * against the certificates' and CRLs' own dates, and reloads (under load, refused, a rule, a
 * secret and a CRL taking effect, a conversation in flight keeping its configuration).
 */
import t from 'tap';
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Attr, getStringAttribute } from '../../src/codec/radius/index.ts';
import { start } from '../../src/main.ts';
import type { ReloadOutcome } from '../../src/obs/http-server.ts';
import { generateDevPki, type DevClientName } from '../../src/pki/dev-pki.ts';
import { readVlan } from '../support/radius-client.ts';
import { EapTlsSupplicant, peerCredentials, type SupplicantOptions, type SupplicantResult } from '../support/supplicant.ts';
import { startTestServer, testPki } from '../support/test-server.ts';
import {
  OPS_CLIENT, crlNextUpdateSeconds, eapol, eapolVlan, firstCertificate, notAfterSeconds, opsConfig, opsRequest, scrape,
  subjectLine, writeBrokenConfig, writeConfig, writeCrl, type OpsConfigOptions,
} from '../support/ops-kit.ts';

const AUTHENTICATIONS = 'portcullis_authentications_total';
const RELOADS = 'portcullis_config_reloads_total';
const IN_FLIGHT = 'portcullis_eap_sessions_in_flight';
const DAY_MS = 86_400_000;

const pki = await testPki();
const work = await mkdtemp(join(tmpdir(), 'portcullis-ops-test-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

// The intermediate's CRL is ours to re-sign: it lists client-revoked, and later client-ec too.
const serialOf = (client: DevClientName): string => firstCertificate(pki.clients[client].leaf).serialNumber;
const crlPath = join(work, 'intermediate.crl.pem');
const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
let crlNumber = 1;
const signCrl = async (revoked: readonly DevClientName[], nextUpdate: Date): Promise<void> =>
  writeCrl(crlPath, { issuer: pki.intermediate, revoked: revoked.map(serialOf), crlNumber: crlNumber++, nextUpdate });
const firstNextUpdate = wholeSeconds(Date.now() + 5 * DAY_MS);
await signCrl(['client-revoked'], firstNextUpdate);

/** The configuration in force; each reload test changes it through {@link apply}. */
let current: OpsConfigOptions = {
  pki,
  secret: 'ops-test-shared-secret-5b1e90c7',
  crlFiles: [pki.rootCrl, crlPath],
  logLevel: 'warn',
  operations: { drain_seconds: 0 },
};
const configPath = join(work, 'portcullis.yaml');
await writeConfig(configPath, opsConfig(current));
const running = await start(configPath);
t.teardown(() => running.shutdown());
const radiusPort = running.server.addresses[0]?.port ?? 0;
const opsPort = running.http?.port ?? 0;
const target = () => ({ port: radiusPort, secret: current.secret, pki });

/** One in-process supplicant conversation of a dev PKI client with the secret in force. */
async function converse(client: DevClientName, options: Partial<SupplicantOptions> = {}): Promise<SupplicantResult> {
  const credentials = await peerCredentials(pki, client);
  return new EapTlsSupplicant({ port: radiusPort, secret: current.secret, ...credentials, ...options }).run();
}

/** Writes the configuration with `changes` and reloads it; the reload must succeed. */
async function apply(t: Test, changes: Partial<OpsConfigOptions>, what = Object.keys(changes).join(', ')): Promise<void> {
  current = { ...current, ...changes };
  await writeConfig(configPath, opsConfig(current));
  t.same(await running.reload(), { ok: true }, `reloaded: ${what}`);
}

t.test('metrics: a table of real eapol_test runs moves the counters by exactly what happened', async (t) => {
  const health = await opsRequest(opsPort, '/healthz');
  t.equal(health.status, 200, '/healthz 200');
  const ready = await opsRequest(opsPort, '/readyz');
  t.equal(ready.status, 200, '/readyz 200');
  t.match(JSON.parse(ready.text), { ready: true, checks: { listeners: true, pki: true, accepting: true } }, '/readyz body: ready');

  const before = await scrape(opsPort);
  const table = [
    { what: 'accept TLS 1.2', client: 'client-ec', tls: 'TLSv1.2', reply: 'Access-Accept' },
    { what: 'accept TLS 1.3', client: 'client-ec', tls: 'TLSv1.3', reply: 'Access-Accept' },
    { what: 'revoked', client: 'client-revoked', tls: 'TLSv1.2', reply: 'Access-Reject', reason: 'certificate-revoked' },
    { what: 'unknown CA', client: 'client-unknown-ca', tls: 'TLSv1.3', reply: 'Access-Reject', reason: 'untrusted-issuer' },
    { what: 'wrong secret', client: 'client-ec', tls: 'TLSv1.2', reply: '', secret: 'not-the-shared-secret-0e4c' },
  ] as const;
  const results = await Promise.all(
    table.map((row) => eapol(target(), row.client, row.tls, 'secret' in row ? { secret: row.secret, timeoutSeconds: 2 } : {})),
  );
  const after = await scrape(opsPort);
  table.forEach((row, i) => {
    const result = results[i]!;
    const why = { output: result.output.split('\n').slice(-40).join('\n') };
    const accepted = row.reply === 'Access-Accept';
    t.equal(result.success, accepted, `${row.what}: eapol_test ${accepted ? 'SUCCESS' : 'FAILURE'}`, why);
    t.equal(result.lastReplyCode, row.reply, `${row.what}: last reply ${row.reply || 'none'}`, why);
    if ('reason' in row) t.equal(result.replyMessage, `rejected: ${row.reason}`, `${row.what}: Reply-Message`, why);
  });

  const delta = (name: string, labels: Record<string, string> = {}): number => after.value(name, labels) - before.value(name, labels);
  const sumDelta = (name: string, labels: Record<string, string> = {}): number => after.sum(name, labels) - before.sum(name, labels);
  t.equal(delta(AUTHENTICATIONS, { outcome: 'accept', reason: 'accepted' }), 2, 'accepted +2');
  t.equal(delta(AUTHENTICATIONS, { outcome: 'reject', reason: 'certificate-revoked' }), 1, 'certificate-revoked +1');
  t.equal(delta(AUTHENTICATIONS, { outcome: 'reject', reason: 'untrusted-issuer' }), 1, 'untrusted-issuer +1');
  t.equal(sumDelta(AUTHENTICATIONS), 4, 'no other authentication counted');
  const badAuthenticator = delta('portcullis_radius_packets_dropped_total', { reason: 'bad-message-authenticator' });
  t.ok(badAuthenticator >= 1, `dropped{bad-message-authenticator} +${badAuthenticator} (>= 1)`);
  const duration = 'portcullis_authentication_duration_seconds_count';
  t.equal(delta(duration, { tls_version: 'TLSv1.3', outcome: 'accept' }), 1, 'duration count {TLSv1.3, accept} +1');
  t.equal(delta(duration, { tls_version: 'TLSv1.2', outcome: 'accept' }), 1, 'duration count {TLSv1.2, accept} +1');
  t.equal(sumDelta(duration), 4, 'duration count +4 over every label');
  t.equal(sumDelta('portcullis_authentication_rounds_count'), 4, 'rounds histogram count +4');
  t.ok(sumDelta('portcullis_authentication_rounds_sum') >= 4 * 4, 'rounds histogram sum moved by at least 4 rounds each');
  const sent = results.reduce((n, r) => n + r.messages.filter((m) => m.direction === 'sent').length, 0);
  const received = delta('portcullis_radius_packets_received_total', { code: 'access-request', client: OPS_CLIENT });
  t.ok(received >= sent && sent > 10, `access-request received from ${OPS_CLIENT} +${received}, eapol_test sent ${sent}`);
  t.equal(after.value(IN_FLIGHT), 0, 'no conversation left in flight');
  t.equal(after.value('portcullis_ready'), 1, 'portcullis_ready 1');
});

t.test('expiry gauges equal the dates of the certificates and CRLs themselves', async (t) => {
  const metrics = await scrape(opsPort);
  const expiry = 'portcullis_certificate_expiry_timestamp_seconds';
  const certificates = [
    { kind: 'server', path: pki.server.leaf },
    { kind: 'trust-anchor', path: pki.root.cert },
    { kind: 'intermediate', path: pki.intermediate.cert },
  ];
  t.equal(metrics.matching(expiry).length, certificates.length, 'one series per configured certificate');
  for (const { kind, path } of certificates) {
    const certificate = firstCertificate(path);
    const subject = subjectLine(certificate);
    t.equal(metrics.value(expiry, { kind, subject }), notAfterSeconds(certificate), `${kind} ${subject}: notAfter ${certificate.validTo}`);
  }
  const nextUpdate = 'portcullis_crl_next_update_timestamp_seconds';
  t.equal(metrics.matching(nextUpdate).length, 2, 'one series per CRL');
  const rootIssuer = subjectLine(firstCertificate(pki.root.cert));
  t.equal(metrics.value(nextUpdate, { issuer: rootIssuer }), crlNextUpdateSeconds(pki.rootCrl), 'root CRL nextUpdate');
  const intermediateIssuer = subjectLine(firstCertificate(pki.intermediate.cert));
  t.equal(metrics.value(nextUpdate, { issuer: intermediateIssuer }), crlNextUpdateSeconds(crlPath), 'intermediate CRL nextUpdate');
  t.equal(crlNextUpdateSeconds(crlPath), firstNextUpdate.getTime() / 1000, 'openssl reads the nextUpdate we signed');
});

t.test('expiry warnings at start-up: inside the windows only', async (t) => {
  // A PKI issued 60 days ago: its server certificate (397 days) ends in 337 days, its CAs in years.
  const old = await generateDevPki(join(work, 'old-pki'), { now: new Date(Date.now() - 60 * DAY_MS) });
  const oldCrl = join(work, 'old-intermediate.crl.pem');
  const oldCrlNextUpdate = wholeSeconds(Date.now() + 7 * DAY_MS);
  await writeCrl(oldCrl, { issuer: old.intermediate, revoked: [], crlNumber: 1, nextUpdate: oldCrlNextUpdate });
  const pkiYaml = `  certificate: ${old.server.cert}
  private_key: ${old.server.key}
  trust_anchors: [${old.root.cert}]
  intermediates: [${old.intermediate.cert}]
  crl_files: [${oldCrl}]`;
  const warnings = (s: { logs: Record<string, unknown>[] }) => s.logs.filter((line) => line['event'] === 'expiry-warning');

  const wide = await startTestServer(t, { pkiYaml, operationsYaml: '  expiry_warning_days: 365\n  crl_warning_hours: 200' });
  const server = firstCertificate(old.server.leaf);
  const hoursLeft = (at: number): number => Math.floor((at - Date.now()) / 3_600_000);
  t.match(warnings(wide), [
    { what: 'server certificate', subject: subjectLine(server), expires: new Date(server.validTo).toISOString(), level: 40 },
    { what: `CRL ${oldCrl}`, subject: subjectLine(firstCertificate(old.intermediate.cert)), expires: oldCrlNextUpdate.toISOString() },
  ], 'expiry_warning_days 365, crl_warning_hours 200: the server certificate and the CRL are warned of');
  t.equal(warnings(wide).length, 2, 'nothing else: the CAs end years later');
  const serverHours = Number(warnings(wide)[0]?.['hours_left']);
  t.ok(Math.abs(serverHours - hoursLeft(Date.parse(server.validTo))) <= 1, `hours_left ${serverHours}, about 337 days`);
  t.ok(Math.abs(Number(warnings(wide)[1]?.['hours_left']) - hoursLeft(oldCrlNextUpdate.getTime())) <= 1, 'CRL hours_left about 168');

  const narrow = await startTestServer(t, { pkiYaml });
  t.same(warnings(narrow), [], 'defaults (30 days, 24 hours): no expiry warning at all');
});

t.test('reload under load: every authentication of a stream succeeds while reloads swap the context', async (t) => {
  const before = await scrape(opsPort);
  const reloads: { outcome: ReloadOutcome; inFlight: number }[] = [];
  let streaming = true;
  // Each reload starts while some conversation is open: the server's session table is watched
  // from its own event loop, so no conversation can slip between two looks.
  const reloader = (async () => {
    while (streaming) {
      const inFlight = running.server.sessionsInFlight;
      if (inFlight === 0) {
        await sleep(1);
        continue;
      }
      reloads.push({ outcome: await running.reload(), inFlight });
    }
  })();
  const clients: readonly DevClientName[] = ['client-ec', 'client-rsa'];
  const vlans: Readonly<Record<string, string>> = { 'client-ec': '100', 'client-rsa': '200' };
  const runs = await Promise.all(
    [0, 1, 2, 3].map(async (worker) => {
      const mine = [];
      // Three runs each, and more (up to eight) until three reloads have happened, however fast.
      for (let i = 0; i < 3 || (reloads.length < 3 && i < 8); i++) {
        const client = clients[worker % 2]!;
        const result = await eapol(target(), client, (worker + i) % 2 === 0 ? 'TLSv1.2' : 'TLSv1.3');
        mine.push({ client, result });
      }
      return mine;
    }),
  ).finally(() => {
    streaming = false;
  });
  await reloader;
  const all = runs.flat();
  t.ok(all.length >= 12, `${all.length} authentications`);
  const failed = all.filter(({ client, result }) => !result.success || eapolVlan(result) !== vlans[client]);
  t.same(
    failed.map(({ client, result }) => `${client}: ${result.lastReplyCode} ${result.replyMessage ?? ''}`),
    [],
    'zero failures, each on its VLAN',
  );
  t.ok(reloads.length >= 3, `${reloads.length} reloads during the stream`);
  t.ok(reloads.every((r) => r.outcome.ok), 'every reload succeeded');
  t.ok(reloads.every((r) => r.inFlight > 0), `each with conversations in flight (${reloads.map((r) => r.inFlight).join(', ')})`);
  const after = await scrape(opsPort);
  const succeeded = after.value(RELOADS, { result: 'success' }) - before.value(RELOADS, { result: 'success' });
  t.equal(succeeded, reloads.length, 'reloads{success} counted');
  t.equal(after.value(IN_FLIGHT), 0, 'no conversation left in flight');
});

t.test('a refused reload: problems with file and line, 409 over HTTP, the old configuration keeps serving', async (t) => {
  const before = await scrape(opsPort);
  const problem = await writeBrokenConfig(configPath, opsConfig({ ...current, staffVlan: 999 }));
  const outcome = await running.reload();
  t.equal(outcome.ok, false, 'reload() refuses');
  t.same(outcome.ok ? [] : outcome.problems, [problem], `the problem: ${problem}`);
  const answer = await opsRequest(opsPort, '/reload', 'POST');
  t.equal(answer.status, 409, 'POST /reload: 409');
  t.same(JSON.parse(answer.text), { ok: false, problems: [problem] }, 'with the problems');

  const result = await converse('client-ec');
  t.equal(result.outcome, 'accept', 'an authentication still succeeds');
  t.equal(readVlan(result.reply).tunnelPrivateGroupId, '100', 'on the old VLAN');
  const after = await scrape(opsPort);
  t.equal(after.value(RELOADS, { result: 'failure' }) - before.value(RELOADS, { result: 'failure' }), 2, 'reloads{failure} +2');
  t.equal(after.value(RELOADS, { result: 'success' }), before.value(RELOADS, { result: 'success' }), 'reloads{success} unchanged');
  await writeConfig(configPath, opsConfig(current));
});

t.test('a reload takes effect: a rule change, then a new client secret', async (t) => {
  await apply(t, { staffVlan: 300 });
  t.equal(readVlan((await converse('client-ec')).reply).tunnelPrivateGroupId, '300', 'OU Staff now on VLAN 300');

  const oldSecret = current.secret;
  await apply(t, { secret: 'ops-test-new-shared-secret-a4d2' });
  const accepted = await converse('client-ec');
  t.equal(accepted.outcome, 'accept', 'the new secret authenticates');
  const dropsBefore = (await scrape(opsPort)).value('portcullis_radius_packets_dropped_total', { reason: 'bad-message-authenticator' });
  await t.rejects(converse('client-ec', { secret: oldSecret, timeoutMs: 400 }), /no reply/, 'the old secret gets no reply');
  const drops = (await scrape(opsPort)).value('portcullis_radius_packets_dropped_total', { reason: 'bad-message-authenticator' });
  t.equal(drops, dropsBefore + 1, 'dropped as bad-message-authenticator');
});

t.test('a re-signed CRL takes effect at the reload', async (t) => {
  t.equal((await converse('client-ec')).outcome, 'accept', 'client-ec is not on the CRL yet');
  const nextUpdate = wholeSeconds(Date.now() + 6 * DAY_MS);
  await signCrl(['client-revoked', 'client-ec'], nextUpdate);
  t.equal((await converse('client-ec')).outcome, 'accept', 'the new CRL file alone changes nothing');
  const before = await scrape(opsPort);
  await apply(t, {}, 'client-ec on the CRL');
  const revoked = await converse('client-ec');
  t.equal(revoked.outcome, 'reject', 'client-ec is rejected after the reload');
  t.equal(getStringAttribute(revoked.reply, Attr.ReplyMessage), 'rejected: certificate-revoked', 'Reply-Message names the reason');
  const after = await scrape(opsPort);
  const labels = { outcome: 'reject', reason: 'certificate-revoked' };
  t.equal(after.value(AUTHENTICATIONS, labels) - before.value(AUTHENTICATIONS, labels), 1, 'certificate-revoked +1');
  const issuer = subjectLine(firstCertificate(pki.intermediate.cert));
  const gauge = after.value('portcullis_crl_next_update_timestamp_seconds', { issuer });
  t.equal(gauge, nextUpdate.getTime() / 1000, 'the gauge follows the new CRL');

  await signCrl(['client-revoked'], wholeSeconds(Date.now() + 5 * DAY_MS));
  await apply(t, {}, 'client-ec off the CRL');
  t.equal((await converse('client-ec')).outcome, 'accept', 'taken off the CRL and reloaded: accepted again');
});

t.test('a conversation in flight across a reload finishes with the configuration it started with', async (t) => {
  await apply(t, { staffVlan: 310 });
  let reloadedAt: { round: number; inFlight: number } | undefined;
  const inFlight = await converse('client-ec', {
    hooks: {
      beforeRequest: async ({ round }) => {
        if (round !== 3) return;
        reloadedAt = { round, inFlight: running.server.sessionsInFlight };
        await apply(t, { staffVlan: 410 });
      },
    },
  });
  t.same(reloadedAt, { round: 3, inFlight: 1 }, 'reloaded before round 3, with the conversation open');
  t.ok(inFlight.rounds > 3, `the conversation went on after the reload (${inFlight.rounds} rounds)`);
  t.equal(inFlight.outcome, 'accept', 'the conversation in flight is accepted');
  t.equal(readVlan(inFlight.reply).tunnelPrivateGroupId, '310', 'the conversation in flight gets the old VLAN');
  const next = await converse('client-ec');
  t.equal(readVlan(next.reply).tunnelPrivateGroupId, '410', 'the next one the new VLAN');
  t.equal((await scrape(opsPort)).value(IN_FLIGHT), 0, 'no conversation left in flight');
});
