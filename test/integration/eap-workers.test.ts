/**
 * EAP conversations spread over worker threads (eap.workers): real eapol_test and the in-process
 * supplicant against a server with two workers. Every packet of a conversation reaches the worker
 * holding its TLS state, resumed sessions work whichever worker they land on, retransmissions get
 * the cached reply, the workers' decision lines and metrics reach the main thread, and a reload
 * reaches the workers.
 */
import t from 'tap';
import { Attr, PacketCode, encodeRequest, getAttribute, stringAttr } from '../../src/codec/radius/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { authenticate, expectAccept, AUTHENTICATIONS_TOTAL, TLS_VERSIONS } from '../support/eapol-checks.ts';
import { expectNoReply, readVlan } from '../support/radius-client.ts';
import { testSupplicant } from '../support/supplicant.ts';
import { DEFAULT_POLICY_YAML, startTestServer, testServerYaml } from '../support/test-server.ts';

const WORKERS = 2;
const s = await startTestServer(t, { workers: WORKERS });
const run = await testSupplicant(s);

t.test('two workers run', async (t) => {
  t.equal(s.server.workers, WORKERS);
  t.ok(s.logs.some((line) => line['msg'] === 'EAP workers started' && line['workers'] === WORKERS), 'logged at start');
});

const RESUMPTIONS = [
  { tls: 'TLSv1.3', how: 'ticket' },
  { tls: 'TLSv1.2', how: 'ticket', phase1Extra: 'tls_disable_session_ticket=0' },
  { tls: 'TLSv1.2', how: 'session ID (the session cache the workers share)' },
] as const;

for (const { tls, how, ...extra } of RESUMPTIONS) {
  t.test(`${tls}: eapol_test, a full authentication then two resumed by ${how} (-r2), VLAN each time`, async (t) => {
    const result = await authenticate(s, { client: 'client-ec', tls, args: ['-r2'], ...extra });
    expectAccept(t, result, { rule: 'staff', vlan: 100, sessionTimeout: 3600, count: 3 });
    t.same(result.decisions.map((d) => d['tls_resumed']), [false, true, true], 'full, then resumed twice', result.why);
  });
}

t.test('concurrent conversations land on both workers and never cross', async (t) => {
  const results = await Promise.all(
    Array.from({ length: 16 }, (_, i) => run({ minVersion: i % 2 === 0 ? 'TLSv1.2' : 'TLSv1.3', callingStationId: `02-00-00-00-09-${String(i).padStart(2, '0')}` })),
  );
  t.same(results.map((r) => r.outcome), Array(16).fill('accept'), 'every one accepted');
  t.equal(new Set(results.map((r) => r.msk!.toString('hex'))).size, 16, 'sixteen different MSKs');
  const tags = new Set(results.flatMap((r) => r.exchanges.flatMap((x) => {
    const state = getAttribute(x.reply, Attr.State);
    return state === undefined ? [] : [state[0]];
  })));
  t.same([...tags].sort(), [0, 1], 'the States name worker 0 and worker 1');
  t.same(results.map((r) => readVlan(r.reply).tunnelPrivateGroupId), Array(16).fill('100'), 'each on VLAN 100');
});

t.test('a session resumed from a ticket of either worker, on any worker', async (t) => {
  for (const version of TLS_VERSIONS) {
    const firsts = await Promise.all(Array.from({ length: 6 }, () => run({ minVersion: version, maxVersion: version })));
    const resumed = await Promise.all(firsts.map((first) => run({ minVersion: version, maxVersion: version, session: first.session })));
    t.same(resumed.map((r) => [r.outcome, r.resumed]), Array(6).fill(['accept', true]), `${version}: six resumed`);
  }
});

t.test('a retransmitted request gets the cached reply from the worker that answered it', async (t) => {
  let resent = 0;
  const result = await run({
    hooks: {
      afterReply: async ({ round, exchange, client }) => {
        if (round !== 2) return;
        const again = await client.send(exchange.request);
        t.same(again.attributes, exchange.reply.attributes, 'the same reply again');
        resent++;
      },
    },
  });
  t.equal(result.outcome, 'accept');
  t.equal(resent, 1);
  t.ok((await s.metric('portcullis_radius_duplicates_replayed_total')) >= 1, 'counted as a replayed duplicate');
});

t.test('junk is dropped and counted before it reaches a worker; forged requests by the worker; the server goes on', async (t) => {
  const dropped = (reason: string) => s.metric('portcullis_radius_packets_dropped_total', { reason });
  const [short, lying, forged] = [await dropped('too-short'), await dropped('bad-length-field'), await dropped('bad-message-authenticator')];
  await expectNoReply(s.port, Buffer.from('01020003', 'hex'));
  const header = Buffer.alloc(20);
  header.writeUInt8(1, 0);
  header.writeUInt16BE(4000, 2);
  await expectNoReply(s.port, header);
  const request = encodeRequest({ code: PacketCode.AccessRequest, identifier: 9, attributes: [stringAttr(Attr.UserName, 'x')], secret: Buffer.from('not-the-secret') });
  await expectNoReply(s.port, request);
  t.equal(await dropped('too-short'), short + 1, 'too-short counted');
  t.equal(await dropped('truncated'), lying + 1, 'a Length beyond the datagram: truncated, counted');
  t.equal(await dropped('bad-message-authenticator'), forged + 1, 'the forged request counted by its worker');
  t.equal((await run()).outcome, 'accept', 'an authentication right after is accepted');
});

t.test('the workers\' decisions and metrics reach the main thread', async (t) => {
  const accepted = await s.metric(AUTHENTICATIONS_TOTAL, { outcome: 'accept', reason: 'accepted' });
  const decisions = s.decisions().filter((line) => line['outcome'] === 'accept').length;
  t.ok(accepted >= 20, `${accepted} accepts counted`);
  t.equal(accepted, decisions, 'one counted accept per decision line');
  t.equal(await s.metric('portcullis_sessions_in_flight'), 0, 'no conversation left in the workers');
  t.equal(s.server.sessionsInFlight, 0);
});

t.test('a reload reaches the workers', async (t) => {
  const policy = DEFAULT_POLICY_YAML.replace('vlan: 100', 'vlan: 101');
  t.not(policy, DEFAULT_POLICY_YAML, 'the policy changed');
  await s.server.reload(async () => parseConfig(testServerYaml(s.pki, { workers: WORKERS, policyYaml: policy }), 'reloaded.yaml'));
  const results = await Promise.all(Array.from({ length: 4 }, () => run()));
  t.same(results.map((r) => readVlan(r.reply).tunnelPrivateGroupId), Array(4).fill('101'), 'every worker applies the new VLAN');
});
