import t from 'tap';
import { EapCode, EapType, decodeEapTlsData, type EapPacket } from '../../src/codec/eap/index.ts';
import { EapSession, type EapResult, type Judge, type SessionLimits } from '../../src/eap/session.ts';
import { AlertDescription, fatalAlertRecord } from '../../src/tls/alert.ts';
import type { HandshakeResult, TlsVersion } from '../../src/tls/engine.ts';
import {
  EapTlsPeer,
  FRAGMENT,
  LIMITS,
  converse,
  decoded,
  devEngine,
  devPki,
  heldJudge,
  identityResponse,
  tlsResponse,
} from '../support/eap-tls-peer.ts';

const pki = await devPki();
const engine = devEngine(pki);
const NOW = 1_700_000_000_000;
const accept: Judge = async () => ({ accept: true });

/** A new session from an Identity with `identifier`; `transitions` collects the state changes. */
function begin(identifier = 5, limits: SessionLimits = LIMITS, identity?: string) {
  const transitions: string[] = [];
  const { session, start } = EapSession.begin({
    clientName: 'nas-1',
    identity: identityResponse(identifier, identity),
    engine,
    limits,
    now: NOW,
    onTransition: (machine, from, to) => transitions.push(`${machine}:${from}->${to}`),
  });
  t.teardown(() => session.abandon());
  return { session, start, transitions };
}

/** A peer torn down with the test file. */
function peer(maxVersion?: TlsVersion): EapTlsPeer {
  const p = new EapTlsPeer(pki, 'client-ec', maxVersion);
  t.teardown(() => p.destroy());
  return p;
}

const failureOf = (result: EapResult) => (result.kind === 'failure' ? result : undefined);

/** The TLS bytes of an EAP-Request/EAP-TLS. */
function tlsDataOf(request: EapPacket | undefined): Buffer | undefined {
  const data = request === undefined ? undefined : decodeEapTlsData(request.data);
  return data?.ok === true ? data.fragment : undefined;
}

t.test('Identity -> EAP-TLS Start with the S flag and the next identifier', async (t) => {
  const { session, start } = begin(5, LIMITS, 'alice@portcullis.test\0opaque-tail');
  const packet = decoded(start);
  t.match(packet, { code: EapCode.Request, identifier: 6, type: EapType.Tls });
  t.same([...packet.data], [0x20], 'flags: S only, no data (RFC 5216 §2.1.1)');
  t.equal(session.identity, 'alice@portcullis.test', 'the identity ends at the first NUL');
  t.equal(session.clientName, 'nas-1');
  t.same([session.status, session.methodState, session.rounds, session.startedAt, session.lastSeen], ['method', 'start-sent', 1, NOW, NOW]);
  t.equal(session.handshake, undefined);
  t.equal(session.state.length, 16);
  t.not(session.state.toString('hex'), begin().session.state.toString('hex'), 'each State is fresh');
  t.equal(decoded(begin(255).start).identifier, 0, 'the identifier wraps at 255');
});

t.test('responses that are not for the outstanding request are discarded', async (t) => {
  const { session } = begin(5);
  const wrongId: EapPacket = { code: EapCode.Response, identifier: 5, type: EapType.Nak, data: Buffer.from([21]) };
  t.same(await session.respond(wrongId, FRAGMENT, accept, NOW + 1), { kind: 'discard', reason: 'identifier-mismatch' });
  const request: EapPacket = { code: EapCode.Request, identifier: 6, type: EapType.Tls, data: Buffer.from([0]) };
  t.same(await session.respond(request, FRAGMENT, accept, NOW + 1), { kind: 'discard', reason: 'not-a-response' });
  t.same([session.status, session.rounds, session.lastSeen], ['method', 1, NOW], 'a discarded packet changes nothing');
  const failed = await session.respond({ ...wrongId, identifier: 6 }, FRAGMENT, accept, NOW + 2);
  t.equal(failed.kind, 'failure', 'the right identifier is still answered');
});

t.test('Nak: EAP-Failure, reason peer-nak', async (t) => {
  const { session, transitions } = begin(5);
  const nak: EapPacket = { code: EapCode.Response, identifier: 6, type: EapType.Nak, data: Buffer.from([21, 25]) };
  const result = await session.respond(nak, FRAGMENT, accept, NOW + 10);
  t.match(failureOf(result), { reason: 'peer-nak', detail: 'peer proposed types [21,25]' });
  t.match(decoded(result.kind === 'discard' ? Buffer.alloc(0) : result.eap), { code: EapCode.Failure, identifier: 6 });
  t.same([session.status, session.rounds, session.lastSeen], ['failure', 2, NOW + 10]);
  t.same(transitions, ['session:method->failure']);
  t.same(await session.respond(nak, FRAGMENT, accept, NOW + 11), { kind: 'discard', reason: 'session-over' }, 'over is over');
});

t.test('a type other than EAP-TLS: unexpected-eap-type', async (t) => {
  for (const type of [EapType.Md5Challenge, EapType.Identity, EapType.Peap]) {
    const { session } = begin(9);
    const result = await session.respond({ code: EapCode.Response, identifier: 10, type, data: Buffer.alloc(4) }, FRAGMENT, accept, NOW);
    t.match(failureOf(result), { reason: 'unexpected-eap-type', detail: `type ${type}` });
    t.equal(session.status, 'failure');
  }
});

t.test('rounds are capped: too-many-rounds', async (t) => {
  const one = begin(1, { ...LIMITS, maxRounds: 1 }).session;
  t.match(failureOf(await one.respond(tlsResponse(2), FRAGMENT, accept, NOW)), { reason: 'too-many-rounds' }, 'the Identity round counts');

  const { session, start } = begin(1, { ...LIMITS, maxRounds: 3 });
  const { last, responses } = await converse(session, start, peer(), accept);
  t.match(failureOf(last), { reason: 'too-many-rounds' });
  t.equal(responses, 3, 'two responses handled, the third refused');
  t.equal(session.rounds, 4);
  t.equal(last.kind === 'failure' ? decoded(last.eap).code : 0, EapCode.Failure);
});

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  t.test(`a full ${version} handshake, accepted: EAP-Success and keys`, async (t) => {
    const { session, start, transitions } = begin(5);
    let seen: HandshakeResult | undefined;
    const judge: Judge = async (handshake) => {
      seen = handshake;
      t.equal(session.status, 'deciding', 'suspended while the policy decides');
      return { accept: true };
    };
    const { last } = await converse(session, start, peer(version), judge);
    t.equal(last.kind, 'success');
    if (last.kind !== 'success') return;
    t.match(decoded(last.eap), { code: EapCode.Success });
    t.same([last.keys.msk.length, last.keys.emsk.length], [64, 64]);
    t.match(seen, { version, chainVerified: true, resumed: false });
    t.match(seen?.peerChain[0]?.subject, /CN=laptop-ec\.portcullis\.test/);
    t.same([session.status, session.methodState], ['success', 'done']);
    const moves = transitions.filter((line) => line.startsWith('session:'));
    t.equal(moves.filter((line) => line.endsWith('->deciding')).length, 1, 'suspended once, for the policy');
    t.match(moves.at(-1), /->success$/, 'the last transition is to success');
  });
}

// TLS 1.2 peers read the alert in plaintext (RFC 5246 §7.2): the record is checked byte for byte.
t.test('a refusing judge: the alert it chose, then EAP-Failure with its reason', async (t) => {
  const { session, start } = begin(5);
  const client = peer('TLSv1.2');
  const refuse: Judge = async () => ({ accept: false, reason: 'no-matching-rule', alert: AlertDescription.AccessDenied });
  const { last, requests } = await converse(session, start, client, refuse);
  t.match(failureOf(last), { reason: 'no-matching-rule' });
  t.same(tlsDataOf(requests.at(-1)), fatalAlertRecord(AlertDescription.AccessDenied), 'the last request carried the fatal alert');
  t.equal(client.error?.code, 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED', 'the peer read access_denied');
});

t.test('a judge that throws: refusal with reason decision-error', async (t) => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const { session, start } = begin(5);
    const client = peer(version);
    const broken: Judge = async () => {
      throw new Error('policy store unreachable');
    };
    const { last, requests } = await converse(session, start, client, broken);
    t.match(failureOf(last), { kind: 'failure', reason: /^decision-error/ }, version);
    t.equal(failureOf(last)?.reason, 'decision-error: policy store unreachable');
    t.equal(session.status, 'failure');
    if (version === 'TLSv1.2') {
      t.same(tlsDataOf(requests.at(-1)), fatalAlertRecord(AlertDescription.InternalError), 'an internal_error alert went first');
      t.equal(client.error?.code, 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR');
    }
  }
});

t.test('a response while the policy decides is discarded: session-busy', async (t) => {
  const { session, start } = begin(5);
  const held = heldJudge();
  const running = converse(session, start, peer(), held.judge);
  await held.called;
  t.equal(session.status, 'deciding');
  const rounds = session.rounds;
  t.same(await session.respond(tlsResponse(0), FRAGMENT, accept, NOW), { kind: 'discard', reason: 'session-busy' });
  t.equal(session.rounds, rounds, 'not counted');
  held.release(true);
  t.equal((await running).last.kind, 'success', 'the conversation goes on once the verdict is in');
});

t.test('abandoned while deciding: the late verdict is ignored', async (t) => {
  const { session, start } = begin(5);
  const held = heldJudge();
  const running = converse(session, start, peer(), held.judge);
  await held.called;
  session.abandon();
  held.release(true);
  const { last } = await running;
  t.not(last.kind, 'success', `no success after abandon (${last.kind})`);
  t.not(last.kind, 'challenge');
  t.equal(session.status, 'failure');
});
