/**
 * Operations of `portcullis serve` as a real process: the `reload` verb against it (applied,
 * refused by the server, refused before asking), and SIGTERM: readiness drops, new conversations
 * get no reply, a conversation under way finishes and the process exits 0 at once; an abandoned
 * conversation holds the exit for `operations.drain_seconds`, and is logged.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVlan } from '../support/radius-client.ts';
import { EapTlsSupplicant, peerCredentials, type SupplicantOptions, type SupplicantResult } from '../support/supplicant.ts';
import { testPki } from '../support/test-server.ts';
import {
  opsConfig, opsRequest, scrape, serveChild, spawnCli, writeBrokenConfig, writeConfig, type OpsConfigOptions, type ServedChild,
} from '../support/ops-kit.ts';

const pki = await testPki();
const work = await mkdtemp(join(tmpdir(), 'portcullis-ops-cli-test-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const secret = 'ops-cli-test-shared-secret-93d0e1';
const credentials = await peerCredentials(pki, 'client-ec');

// Both servers start at once: each costs a cold start of node and tsx.
const drainSeconds = { long: 5, short: 1 } as const;
const finishing = { path: join(work, 'finishing.yaml'), options: { pki, secret, operations: { drain_seconds: drainSeconds.long } } };
const abandoning = { path: join(work, 'abandoning.yaml'), options: { pki, secret, operations: { drain_seconds: drainSeconds.short } } };
await writeConfig(finishing.path, opsConfig(finishing.options));
await writeConfig(abandoning.path, opsConfig(abandoning.options));
const finishingServer = serveChild(t, finishing.path);
const abandoningServer = serveChild(t, abandoning.path);

/** One conversation of client-ec (OU Staff) against a served child. */
async function converse(port: number, options: Partial<SupplicantOptions> = {}): Promise<SupplicantResult> {
  return new EapTlsSupplicant({ port, secret, ...credentials, ...options }).run();
}

const messages = (served: ServedChild): unknown[] => served.log.map((line) => line['msg']);

t.test('reload verb: applied (exit 0), refused by the server (exit 1), invalid before asking (exit 2)', async (t) => {
  const { radius, ops } = await abandoningServer.ports;
  // The verb finds the server through operations.http of the file it is given: the real port here.
  const verbOptions: OpsConfigOptions = { ...abandoning.options, operations: { ...abandoning.options.operations, http: { port: ops } } };
  const verbPath = join(work, 'verb.yaml');
  await writeConfig(verbPath, opsConfig(verbOptions));
  const invalidPath = join(work, 'verb-invalid.yaml');
  const invalidProblem = await writeBrokenConfig(invalidPath, opsConfig(verbOptions));

  await writeConfig(abandoning.path, opsConfig({ ...abandoning.options, staffVlan: 300 }));
  const [applied, invalid] = await Promise.all([spawnCli(['reload', verbPath]).exited, spawnCli(['reload', invalidPath]).exited]);
  t.equal(applied.code, 0, `applied: exit 0 ${applied.stderr}`);
  t.equal(applied.stdout, 'configuration reloaded\n', "prints 'configuration reloaded'");
  t.equal(readVlan((await converse(radius)).reply).tunnelPrivateGroupId, '300', 'the reloaded rule is in force: VLAN 300');
  t.equal(invalid.code, 2, 'its own file invalid: exit 2 (invalid configuration), the server is not asked');
  t.match(invalid.stderr, invalidProblem, `names ${invalidProblem}`);

  const servedProblem = await writeBrokenConfig(abandoning.path, opsConfig({ ...abandoning.options, staffVlan: 400 }));
  const refused = await spawnCli(['reload', verbPath]).exited;
  t.equal(refused.code, 1, 'the served file broken: the server refuses, exit 1');
  t.equal(refused.stderr, `reload refused, the running configuration stays:\n  ${servedProblem}\n`, 'prints the problems');
  t.equal(refused.stdout, '', 'nothing on stdout');
  t.match(await abandoningServer.waitFor((line) => line['msg'] === 'reload refused: the running configuration stays'), {
    problems: [servedProblem],
  }, 'the server logs the refusal with the problems');
  t.equal(readVlan((await converse(radius)).reply).tunnelPrivateGroupId, '300', 'the running configuration stays');
  const metrics = await scrape(ops);
  t.equal(metrics.value('portcullis_config_reloads_total', { result: 'success' }), 1, 'reloads{success} 1');
  t.equal(metrics.value('portcullis_config_reloads_total', { result: 'failure' }), 1, 'reloads{failure} 1');
  await writeConfig(abandoning.path, opsConfig(abandoning.options));
});

t.test('SIGTERM: not ready, new conversations dropped, the one under way finishes, exit 0 at once', async (t) => {
  const { radius, ops } = await finishingServer.ports;
  const ready = await opsRequest(ops, '/readyz');
  t.equal(ready.status, 200, 'ready before SIGTERM');

  let sigtermAt = 0;
  /** What the test saw while the server drained, the conversation under way held in its hook. */
  const during: {
    readyz?: { status: number; body: unknown };
    newConversation?: string;
    dropped?: number;
    readyGauge?: number;
    inFlight?: number;
  } = {};
  const underWay = await converse(radius, {
    hooks: {
      afterReply: async ({ round }) => {
        if (round !== 1) return;
        // The first challenge (EAP-TLS Start) is in: the conversation is open on the server.
        finishingServer.child.kill('SIGTERM');
        sigtermAt = Date.now();
        await finishingServer.waitFor((line) => line['msg'] === 'draining: no new conversations');
        const readyz = await opsRequest(ops, '/readyz');
        during.readyz = { status: readyz.status, body: JSON.parse(readyz.text) };
        during.newConversation = await converse(radius, { timeoutMs: 500 }).then(
          (result) => `answered: ${result.outcome}`,
          (error: unknown) => String(error),
        );
        const metrics = await scrape(ops);
        during.dropped = metrics.value('portcullis_radius_packets_dropped_total', { reason: 'shutting-down' });
        during.readyGauge = metrics.value('portcullis_ready');
        during.inFlight = metrics.value('portcullis_eap_sessions_in_flight');
      },
    },
  });
  const endedAt = Date.now();
  const exit = await finishingServer.exited;
  const exitedAt = Date.now();

  t.equal(during.readyz?.status, 503, '/readyz 503 while draining');
  t.match(during.readyz?.body, { ready: false, checks: { accepting: false } }, '{ready:false}');
  t.match(during.newConversation, /no reply to request 0 within 500 ms/, 'a new conversation gets no reply');
  t.equal(during.dropped, 1, 'dropped as shutting-down');
  t.equal(during.readyGauge, 0, 'portcullis_ready 0');
  t.equal(during.inFlight, 1, 'the conversation under way is in flight');
  t.equal(underWay.outcome, 'accept', 'the conversation under way finishes with Access-Accept');
  t.equal(readVlan(underWay.reply).tunnelPrivateGroupId, '100', 'on its VLAN');
  t.equal(exit.code, 0, `exit 0 ${exit.stderr}`);
  t.equal(exit.stderr, '', 'nothing on stderr');
  t.ok(exitedAt - endedAt < 2000, `exited ${exitedAt - endedAt} ms after the conversation ended`);
  const sinceSigterm = exitedAt - sigtermAt;
  t.ok(sinceSigterm < drainSeconds.long * 1000 - 1000, `exited ${sinceSigterm} ms after SIGTERM, drain_seconds ${drainSeconds.long}`);
  t.match(
    finishingServer.log.find((line) => line['msg'] === 'draining: no new conversations'),
    { in_flight: 1, drain_seconds: drainSeconds.long },
    'the drain is logged with one conversation in flight',
  );
  t.notOk(messages(finishingServer).includes('drain time over: unfinished conversations abandoned'), 'nothing abandoned');
  t.same(messages(finishingServer).slice(-1), ['stopped'], 'stopped is the last line');
});

t.test('SIGTERM with an abandoned conversation: exit 0 after drain_seconds, the abandoned one logged', async (t) => {
  const { radius } = await abandoningServer.ports;
  // One round (Identity -> EAP-TLS Start), then the peer falls silent.
  await t.rejects(converse(radius, { maxRounds: 1 }), /no final reply after 1 rounds/);
  abandoningServer.child.kill('SIGTERM');
  const sigtermAt = Date.now();
  const exit = await abandoningServer.exited;
  const elapsed = Date.now() - sigtermAt;
  t.equal(exit.code, 0, `exit 0 ${exit.stderr}`);
  t.ok(elapsed >= drainSeconds.short * 1000, `waited the drain: ${elapsed} ms`);
  t.ok(elapsed < drainSeconds.short * 1000 + 2500, 'then stopped');
  const drainLine = abandoningServer.log.find((line) => line['msg'] === 'draining: no new conversations');
  t.match(drainLine, { in_flight: 1 }, 'drain logged, one in flight');
  t.match(
    abandoningServer.log.find((line) => line['msg'] === 'drain time over: unfinished conversations abandoned'),
    { abandoned: 1 },
    'abandoned: 1 logged',
  );
  t.same(messages(abandoningServer).slice(-1), ['stopped'], 'stopped is the last line');
});
