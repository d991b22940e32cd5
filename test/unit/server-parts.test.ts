import t from 'tap';
import { PacketCode } from '../../src/codec/radius/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { SessionTable } from '../../src/eap/session-table.ts';
import { EapSession } from '../../src/eap/session.ts';
import type { CertificateRejection } from '../../src/policy/certificate-check.ts';
import type { Decision } from '../../src/policy/decide.ts';
import { alertFor } from '../../src/server/alerts.ts';
import { ClientTable } from '../../src/server/client-table.ts';
import { packetCodeName } from '../../src/server/packet-names.ts';
import { ReplyCache } from '../../src/server/reply-cache.ts';
import { AlertDescription } from '../../src/tls/alert.ts';
import { EapTlsPeer, LIMITS, converse, devEngine, devPki, heldJudge, identityResponse } from '../support/eap-tls-peer.ts';

// ---------------------------------------------------------------------------------------------
// ClientTable

/** A configuration's clients from `name: address` YAML lines (address: one network or a flow list). */
function clientsOf(entries: readonly [name: string, address: string][]) {
  const clients = entries.map(([name, address]) => `  - { name: ${name}, address: ${address}, secret: secret-of-${name} }`);
  const yaml = `listen: [{ address: 127.0.0.1 }]
tls: { certificate: s.pem, private_key: s.key, trust_anchors: [r.pem] }
clients:
${clients.join('\n')}
policy: { default: { action: reject, reason: closed } }
`;
  return parseConfig(yaml, 'clients-test.yaml').clients;
}

const nested: [string, string][] = [
  ['wide', '10.0.0.0/8'],
  ['narrow', '10.1.0.0/16'],
  ['host', '10.1.2.3'],
  ['v6-wide', '"2001:db8::/32"'],
  ['v6-narrow', '"2001:db8:1::/48"'],
  ['multi', '[192.0.2.0/24, "2001:db8:ffff::/48"]'],
];

t.test('ClientTable: the longest prefix holding the source wins', async (t) => {
  const expected: [string, string | undefined][] = [
    ['10.1.2.3', 'host'],
    ['10.1.2.4', 'narrow'],
    ['10.200.0.1', 'wide'],
    ['2001:db8:1::5', 'v6-narrow'],
    ['2001:db8:2::5', 'v6-wide'],
    ['192.0.2.77', 'multi'],
    ['2001:db8:ffff::1', 'multi'],
    ['::ffff:10.1.2.3', 'host'],
    ['::ffff:10.1.9.9', 'narrow'],
    ['::ffff:10.9.9.9', 'wide'],
    ['11.0.0.1', undefined],
    ['::1', undefined],
    ['2001:db9::1', undefined],
    ['not-an-address', undefined],
    ['', undefined],
  ];
  for (const order of [nested, [...nested].reverse()]) {
    const table = new ClientTable(clientsOf(order));
    for (const [source, name] of expected) t.equal(table.find(source)?.name, name, `${source} -> ${name ?? 'nobody'}`);
  }
  const host = new ClientTable(clientsOf(nested)).find('10.1.2.3');
  t.same(host?.secret, Buffer.from('secret-of-host', 'utf8'), 'the secret as bytes');
  t.equal(host?.config.name, 'host');
});

t.test('ClientTable: an IPv4-mapped source against IPv4 and IPv6 networks', async (t) => {
  // All three hold ::ffff:10.1.2.3; an IPv4 /24 is as specific as an IPv6 /120 (RFC 4291 §2.5.5.2).
  const networks: [string, string][] = [['mapped-all', '"::ffff:0.0.0.0/96"'], ['ap', '10.1.2.0/24'], ['mapped-few', '"::ffff:10.1.2.0/124"']];
  for (const order of [networks, [...networks].reverse()]) {
    const table = new ClientTable(clientsOf(order));
    t.equal(table.find('10.1.2.3')?.name, 'ap', 'an IPv4 source: IPv6 networks do not hold it');
    t.equal(table.find('::ffff:10.1.2.3')?.name, 'mapped-few', 'the /124 beats the /24');
    t.equal(table.find('::ffff:10.1.2.99')?.name, 'ap', 'the /24 beats the /96');
    t.equal(table.find('::ffff:10.9.9.9')?.name, 'mapped-all');
  }
});

// ---------------------------------------------------------------------------------------------
// ReplyCache

t.test('ReplyCache: new, in progress, answered, expired', async (t) => {
  const cache = new ReplyCache(1000);
  const key = ReplyCache.key('192.0.2.1', 40000, 7, Buffer.alloc(16, 1));
  t.same(cache.check(key, 0), { kind: 'new' });
  t.same(cache.check(key, 500), { kind: 'in-progress' }, 'a retransmission while the first is handled');
  const reply = Buffer.from('reply');
  cache.answer(key, reply, 600);
  t.same(cache.check(key, 1500), { kind: 'answered', reply }, 'kept for the lifetime from the answer');
  t.same(cache.check(key, 1600), { kind: 'new' }, 'expired at answer + lifetime');
  t.same(cache.check(key, 2599), { kind: 'in-progress' });
  t.same(cache.check(key, 2600), { kind: 'new' }, 'an in-progress mark expires too');
});

t.test('ReplyCache: keys tell requests apart', async (t) => {
  const authenticator = Buffer.alloc(16, 1);
  const keys = [
    ReplyCache.key('192.0.2.1', 40000, 7, authenticator),
    ReplyCache.key('192.0.2.2', 40000, 7, authenticator),
    ReplyCache.key('192.0.2.1', 40001, 7, authenticator),
    ReplyCache.key('192.0.2.1', 40000, 8, authenticator),
    ReplyCache.key('192.0.2.1', 40000, 7, Buffer.alloc(16, 2)),
  ];
  t.equal(new Set(keys).size, keys.length);
  const cache = new ReplyCache(1000);
  for (const key of keys) t.same(cache.check(key, 0), { kind: 'new' });
  t.equal(cache.size, keys.length);
});

t.test('ReplyCache: forget and sweep', async (t) => {
  const cache = new ReplyCache(1000);
  const [a, b, c] = ['a', 'b', 'c'].map((id) => ReplyCache.key(id, 1, 1, Buffer.alloc(16)));
  cache.check(a!, 0);
  cache.forget(a!);
  t.same(cache.check(a!, 1), { kind: 'new' }, 'forgotten: handled afresh');
  cache.forget('never-seen');
  cache.check(b!, 0);
  cache.answer(b!, Buffer.from('b'), 500);
  cache.check(c!, 900);
  t.equal(cache.size, 3);
  cache.sweep(1001);
  t.equal(cache.size, 2, 'only a (expires at 1001) went');
  cache.sweep(1500);
  t.equal(cache.size, 1, 'b expired at 1500');
  t.same(cache.check(c!, 1899), { kind: 'in-progress' });
  cache.sweep(10_000);
  t.equal(cache.size, 0);
});

// ---------------------------------------------------------------------------------------------
// SessionTable

const pki = await devPki();
const engine = devEngine(pki);

function newSession(clientName: string, now = 0): EapSession {
  const { session } = EapSession.begin({ clientName, identity: identityResponse(1), engine, limits: LIMITS, now, onTransition: () => {} });
  return session;
}

t.test('SessionTable: admission caps, total and per client', async (t) => {
  const table = new SessionTable({ maxSessions: 3, idleTimeoutMs: 1000 });
  t.equal(table.admit('a', 2), undefined);
  table.add(newSession('a'));
  table.add(newSession('a'));
  t.equal(table.admit('a', 2), 'session-cap-client');
  t.equal(table.admit('a', 3), undefined, 'the cap is per call: the client override');
  t.equal(table.admit('b', 2), undefined);
  table.add(newSession('b'));
  t.same([table.size, table.countFor('a'), table.countFor('b'), table.countFor('c')], [3, 2, 1, 0]);
  t.equal(table.admit('c', 2), 'session-cap-total', 'the total cap comes first');
  t.equal(table.admit('a', 2), 'session-cap-total');
  table.clear();
  t.same([table.size, table.countFor('a')], [0, 0]);
});

t.test('SessionTable: get by State, for the same client only', async (t) => {
  const table = new SessionTable({ maxSessions: 10, idleTimeoutMs: 1000 });
  const session = newSession('a');
  table.add(session);
  t.equal(table.get(session.state, 'a'), session);
  t.equal(table.get(Buffer.from(session.state), 'a'), session, 'any buffer with the same bytes');
  t.equal(table.get(session.state, 'b'), undefined, 'another client cannot use the State');
  t.equal(table.get(Buffer.alloc(16), 'a'), undefined, 'unknown State');
  t.equal(table.get(Buffer.alloc(0), 'a'), undefined, 'empty State');
});

t.test('SessionTable: remove is safe to call twice', async (t) => {
  const table = new SessionTable({ maxSessions: 10, idleTimeoutMs: 1000 });
  const [first, second] = [newSession('a'), newSession('a')];
  table.add(first);
  table.add(second);
  table.remove(first);
  table.remove(first);
  t.same([table.size, table.countFor('a')], [1, 1]);
  t.equal(table.get(first.state, 'a'), undefined);
  t.equal(table.get(second.state, 'a'), second);
  table.remove(second);
  table.remove(second);
  t.same([table.size, table.countFor('a')], [0, 0]);
  t.equal(table.admit('a', 1), undefined, 'the slots are free again');
});

t.test('SessionTable: expire removes idle sessions but not one the policy holds', async (t) => {
  const table = new SessionTable({ maxSessions: 10, idleTimeoutMs: 1000 });
  const idle = newSession('a', 0);
  const fresh = newSession('a', 500);
  const onEdge = newSession('b', 0);
  onEdge.lastSeen = 500;

  const deciding = EapSession.begin({ clientName: 'b', identity: identityResponse(1), engine, limits: LIMITS, now: 0, onTransition: () => {} });
  const peer = new EapTlsPeer(pki);
  const held = heldJudge();
  const running = converse(deciding.session, deciding.start, peer, held.judge, 0);
  await held.called;
  t.equal(deciding.session.status, 'deciding');

  for (const session of [idle, fresh, onEdge, deciding.session]) table.add(session);
  const expired = table.expire(1500);
  t.same(expired, [idle], 'idle for 1500 ms > 1000 ms');
  t.equal(idle.status, 'failure', 'expired sessions are abandoned');
  t.same([table.size, table.countFor('a'), table.countFor('b')], [3, 1, 2]);
  t.equal(deciding.session.status, 'deciding', 'untouched while deciding');
  t.same(table.expire(1500), [], 'exactly the idle timeout is not yet expired');

  held.release(true);
  t.equal((await running).last.kind, 'success');
  peer.destroy();
  table.remove(deciding.session);
  const late = table.expire(10_000);
  t.ok(late.length === 2 && late.includes(onEdge) && late.includes(fresh), 'the others expire later');
  t.equal(table.size, 0);
});

t.test('SessionTable: clear abandons every session', async (t) => {
  const table = new SessionTable({ maxSessions: 10, idleTimeoutMs: 1000 });
  const sessions = [newSession('a'), newSession('b')];
  for (const session of sessions) table.add(session);
  table.clear();
  t.same(sessions.map((session) => session.status), ['failure', 'failure']);
  t.equal(table.size, 0);
});

// ---------------------------------------------------------------------------------------------
// alerts and packet names

t.test('alertFor: every certificate rejection, and a rule rejection', async (t) => {
  const expected: Record<CertificateRejection, AlertDescription> = {
    'no-client-certificate': AlertDescription.HandshakeFailure,
    'certificate-expired': AlertDescription.CertificateExpired,
    'certificate-not-yet-valid': AlertDescription.BadCertificate,
    'untrusted-issuer': AlertDescription.UnknownCa,
    'certificate-revoked': AlertDescription.CertificateRevoked,
    'certificate-invalid': AlertDescription.BadCertificate,
    'missing-client-auth-eku': AlertDescription.UnsupportedCertificate,
    'revocation-unknown': AlertDescription.CertificateUnknown,
    'revocation-unavailable': AlertDescription.CertificateUnknown,
    'crl-stale': AlertDescription.CertificateUnknown,
  };
  const reject = (rejection: CertificateRejection | undefined): Extract<Decision, { outcome: 'reject' }> => ({
    outcome: 'reject',
    rule: rejection === undefined ? 'guests' : undefined,
    reason: rejection ?? 'guests-not-allowed',
    certificateRejection: rejection,
    detail: undefined,
    certificate: undefined,
    checks: undefined,
  });
  for (const [rejection, alert] of Object.entries(expected) as [CertificateRejection, AlertDescription][]) {
    t.equal(alertFor(reject(rejection)), alert, rejection);
  }
  t.equal(alertFor(reject(undefined)), AlertDescription.AccessDenied, 'a rule refused: access_denied');
  t.same(
    Object.values(AlertDescription).slice(0, 9),
    [40, 42, 43, 44, 45, 46, 48, 49, 80],
    'RFC 8446 §6 alert numbers',
  );
});

t.test('packetCodeName: kebab-case names, "other" outside the dictionary', async (t) => {
  const expected: [number, string][] = [
    [PacketCode.AccessRequest, 'access-request'],
    [PacketCode.AccessAccept, 'access-accept'],
    [PacketCode.AccessReject, 'access-reject'],
    [PacketCode.AccessChallenge, 'access-challenge'],
    [PacketCode.AccountingRequest, 'accounting-request'],
    [PacketCode.StatusServer, 'status-server'],
    [PacketCode.DisconnectNak, 'disconnect-nak'],
    [PacketCode.CoaRequest, 'coa-request'],
    [0, 'other'],
    [6, 'other'],
    [255, 'other'],
  ];
  for (const [code, name] of expected) t.equal(packetCodeName(code), name, `${code}`);
  const names = Object.values(PacketCode).map(packetCodeName);
  t.equal(new Set(names).size, names.length, 'one label per code');
  t.ok(names.every((name) => /^[a-z]+(-[a-z]+)*$/.test(name)));
});
