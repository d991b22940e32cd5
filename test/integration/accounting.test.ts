/**
 * Status-Server (RFC 5997) and accounting (RFC 2866) on real sockets: the real radclient
 * (FreeRADIUS) for Status-Server and for the Start / Interim-Update / Stop / Accounting-On
 * sequence, and a raw UDP NAS built on the project codec for volume, retransmissions, a wrong
 * secret and a restart. Every answered record must be in the session table and in the JSON-lines
 * sink, once.
 */
import t from 'tap';
import type { Test } from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AcctStatusTypeValue,
  Attr,
  PacketCode,
  decodePacket,
  encodeRequest,
  integerAttr,
  stringAttr,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
  type RadiusAttribute,
} from '../../src/codec/radius/index.ts';
import { runRadclient } from '../support/radclient.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const dir = await mkdtemp(join(tmpdir(), 'portcullis-accounting-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** An `accounting:` block with one ephemeral listener and a sink at `sink`. */
function accountingYaml(sink: string): string {
  return `accounting:
  listen:
    - address: 127.0.0.1
      port: 0
  sink: ${sink}
`;
}

async function startAccountingServer(t: Test, sink: string): Promise<TestServer & { accountingPort: number }> {
  const s = await startTestServer(t, { accountingYaml: accountingYaml(sink) });
  if (s.accountingPort === undefined) throw new Error('no accounting listener');
  return { ...s, accountingPort: s.accountingPort };
}

/** The sink's lines, parsed. */
async function sinkLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const dropped = (s: TestServer, reason: string) => s.metric('portcullis_radius_packets_dropped_total', { reason });

t.test('Status-Server with radclient: answered on both ports with a Message-Authenticator, dropped without', async (t) => {
  const s = await startAccountingServer(t, join(dir, 'status.jsonl'));
  const ports = [
    { port: s.port, label: 'auth', reply: 'Access-Accept' },
    { port: s.accountingPort, label: 'accounting', reply: 'Accounting-Response' },
  ] as const;
  for (const { port, label, reply } of ports) {
    // RFC 5997 §3: radclient signs it when asked for a Message-Authenticator.
    const answered = await runRadclient({ port, secret: s.secret, command: 'status', attributes: ['Message-Authenticator = 0x00'] });
    t.equal(answered.replyCode, reply, `${label}: ${reply}`);
    t.equal(answered.exitCode, 0, `${label}: radclient verified the reply`);
    t.same(
      answered.replyAttributes.map((line) => line.split(' ')[0]),
      ['Message-Authenticator'],
      `${label}: nothing but the Message-Authenticator`,
    );
    t.equal(await s.metric('portcullis_status_server_total', { port: label }), 1, `${label}: counted`);

    const before = await dropped(s, 'missing-message-authenticator');
    const unsigned = await runRadclient({ port, secret: s.secret, command: 'status', attributes: ['NAS-Identifier = "probe"'] });
    t.equal(unsigned.replyCode, undefined, `${label}: no Message-Authenticator, no reply`);
    t.not(unsigned.exitCode, 0, `${label}: radclient reports the timeout`);
    t.equal(await dropped(s, 'missing-message-authenticator'), before + 1, `${label}: counted as missing-message-authenticator`);

    const badBefore = await dropped(s, 'bad-message-authenticator');
    const wrong = await runRadclient({ port, secret: 'not-the-secret', command: 'status', attributes: ['Message-Authenticator = 0x00'] });
    t.equal(wrong.replyCode, undefined, `${label}: wrong secret, no reply`);
    t.equal(await dropped(s, 'bad-message-authenticator'), badBefore + 1, `${label}: counted as bad-message-authenticator`);
    t.equal(await s.metric('portcullis_status_server_total', { port: label }), 1, `${label}: drops are not answered`);
  }
});

t.test('Start, Interim-Update, Stop and Accounting-On with radclient', async (t) => {
  const sink = join(dir, 'sequence.jsonl');
  const s = await startAccountingServer(t, sink);
  const acct = async (lines: readonly string[]) => {
    const result = await runRadclient({ port: s.accountingPort, secret: s.secret, command: 'acct', attributes: lines });
    t.equal(result.replyCode, 'Accounting-Response', `answered: ${lines[0] ?? ''}`);
    t.equal(result.exitCode, 0, 'radclient verified the Accounting-Response');
    return result;
  };
  const session = ['Acct-Session-Id = "s1"', 'User-Name = "alice"', 'NAS-Port = 7', 'Calling-Station-Id = "02-00-00-00-00-01"'];
  const nas = ['NAS-IP-Address = 192.0.2.10', 'NAS-Identifier = "ap-1"'];

  const start = await acct(['Acct-Status-Type = Start', ...session, ...nas, 'Proxy-State = 0x0102']);
  t.same(
    start.replyAttributes.map((line) => line.split(' ')[0]),
    ['Message-Authenticator', 'Proxy-State'],
    'Message-Authenticator, then the Proxy-State echoed',
  );
  let [active] = await s.server.accountingStore.activeSessions();
  t.match(active, {
    client: 'test-nas',
    sessionId: 's1',
    userName: 'alice',
    nasPort: 7,
    callingStationId: '02-00-00-00-00-01',
    nasIpAddress: '192.0.2.10',
    nasIdentifier: 'ap-1',
  });

  await acct([
    'Acct-Status-Type = Interim-Update',
    ...session,
    ...nas,
    'Acct-Session-Time = 60',
    'Acct-Input-Octets = 1000',
    'Acct-Input-Gigawords = 1',
    'Acct-Output-Octets = 2000',
    'Acct-Input-Packets = 10',
    'Acct-Output-Packets = 20',
  ]);
  const sessions = await s.server.accountingStore.activeSessions({ callingStationId: '02-00-00-00-00-01' });
  t.equal(sessions.length, 1, 'one session after the Interim-Update');
  active = sessions[0];
  t.match(active, { sessionTime: 60, inputOctets: 2 ** 32 + 1000, outputOctets: 2000, inputPackets: 10, outputPackets: 20 });
  t.same(await s.server.accountingStore.activeSessions({ userName: 'bob' }), [], 'filters apply');
  t.equal((await s.server.accountingStore.activeSessions({ nas: 'ap-1' })).length, 1, 'by NAS-Identifier');

  await acct(['Acct-Status-Type = Stop', ...session, ...nas, 'Acct-Session-Time = 90', 'Acct-Terminate-Cause = User-Request']);
  t.same(await s.server.accountingStore.activeSessions(), [], 'no session after the Stop');

  // RFC 2866 §5.1: Accounting-On, the NAS restarted: its sessions are gone, others stay.
  for (const [id, identifier] of [
    ['a', 'ap-1'],
    ['b', 'ap-1'],
    ['c', 'ap-2'],
  ] as const) {
    await acct(['Acct-Status-Type = Start', `Acct-Session-Id = "${id}"`, `NAS-Identifier = "${identifier}"`]);
  }
  t.equal((await s.server.accountingStore.activeSessions()).length, 3);
  await acct(['Acct-Status-Type = Accounting-On', 'NAS-Identifier = "ap-1"']);
  t.same(
    (await s.server.accountingStore.activeSessions()).map((x) => x.sessionId),
    ['c'],
    'Accounting-On from ap-1 ends the sessions of ap-1 only',
  );
  await acct(['Acct-Status-Type = Accounting-Off', 'NAS-Identifier = "ap-2"']);
  t.same(await s.server.accountingStore.activeSessions(), [], 'Accounting-Off ends the rest');

  const lines = await sinkLines(sink);
  t.same(
    lines.map((line) => line['status']),
    ['start', 'interim-update', 'stop', 'start', 'start', 'start', 'accounting-on', 'accounting-off'],
    'one sink line per record, in order',
  );
  t.match(lines[1], {
    client: 'test-nas',
    session_id: 's1',
    user_name: 'alice',
    calling_station_id: '02-00-00-00-00-01',
    nas_port: 7,
    input_octets: 2 ** 32 + 1000,
    session_time: 60,
  });
  t.match(lines[2], { status: 'stop', terminate_cause: 1, session_time: 90 });
  const text = await readFile(sink, 'utf8');
  t.notMatch(text, s.secret, 'no secret in the sink');
  for (const status of ['start', 'interim-update', 'stop', 'accounting-on', 'accounting-off']) {
    t.ok((await s.metric('portcullis_accounting_records_total', { status })) >= 1, `counted: ${status}`);
  }
});

/** A NAS on one UDP socket that sends Accounting-Requests and collects the replies by Identifier. */
class AccountingNas {
  readonly replies = new Map<number, Buffer[]>();
  readonly #socket: dgram.Socket;
  readonly #port: number;

  private constructor(socket: dgram.Socket, port: number) {
    this.#socket = socket;
    this.#port = port;
    socket.on('message', (reply) => {
      const id = reply[1] ?? -1;
      this.replies.set(id, [...(this.replies.get(id) ?? []), reply]);
    });
  }

  static async open(t: Test, port: number): Promise<AccountingNas> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return new AccountingNas(socket, port);
  }

  async send(datagram: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => this.#socket.send(datagram, this.#port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** Waits until every identifier has a reply, or `ms` pass. */
  async settle(identifiers: readonly number[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (identifiers.some((id) => !this.replies.has(id)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function accountingRequest(identifier: number, secret: string, attributes: readonly RadiusAttribute[]): Buffer {
  return encodeRequest({ code: PacketCode.AccountingRequest, identifier, attributes, secret: Buffer.from(secret) });
}

function startOf(sessionId: string): RadiusAttribute[] {
  return [
    integerAttr(Attr.AcctStatusType, AcctStatusTypeValue.Start),
    stringAttr(Attr.AcctSessionId, sessionId),
    stringAttr(Attr.UserName, `user-${sessionId}`),
    integerAttr(Attr.NasPort, 1),
  ];
}

/** A server with its sink, a raw NAS, and `count` Starts of sessions `<prefix><i>` with Identifier i. */
async function volumeSetup(t: Test, prefix: string, count: number) {
  const sink = join(dir, `${prefix}.jsonl`);
  const s = await startAccountingServer(t, sink);
  const nas = await AccountingNas.open(t, s.accountingPort);
  const requests = Array.from({ length: count }, (_, i) => accountingRequest(i, s.secret, startOf(`${prefix}${i}`)));
  return { sink, s, nas, requests };
}

t.test('200 sessions by a raw NAS, with retransmissions: each stored and written once, each answered', async (t) => {
  const count = 200;
  const { sink, s, nas, requests } = await volumeSetup(t, 'v', count);
  // Every tenth request is sent twice at once, the way a NAS retransmits on a short timer.
  await Promise.all(requests.flatMap((request, i) => (i % 10 === 0 ? [nas.send(request), nas.send(request)] : [nas.send(request)])));
  const ids = requests.map((_, i) => i);
  await nas.settle(ids, 5_000);
  // A retransmission dropped while its original was in progress is answered when sent again.
  for (const i of ids.filter((id) => !nas.replies.has(id))) await nas.send(requests[i]!);
  await nas.settle(ids, 5_000);
  // And a late retransmission of an answered request gets the cached reply, not a second record.
  for (let i = 0; i < count; i += 25) await nas.send(requests[i]!);
  await new Promise((resolve) => setTimeout(resolve, 200));

  for (const [i, request] of requests.entries()) {
    const replies = nas.replies.get(i) ?? [];
    if (replies.length === 0) {
      t.fail(`request ${i} got no reply`);
      continue;
    }
    const requestAuthenticator = request.subarray(4, 20);
    for (const datagram of replies) {
      const decoded = decodePacket(datagram);
      if (!decoded.ok) {
        t.fail(`reply ${i} does not decode: ${decoded.reason}`);
        continue;
      }
      const reply = decoded.packet;
      if (
        reply.code !== PacketCode.AccountingResponse ||
        !verifyResponseAuthenticator(reply, requestAuthenticator, Buffer.from(s.secret)) ||
        verifyMessageAuthenticator(reply, Buffer.from(s.secret), requestAuthenticator, PacketCode.AccountingRequest) !== 'ok' ||
        reply.attributes.length !== 1
      ) {
        t.fail(`reply ${i} is not a valid Accounting-Response with only a Message-Authenticator`);
      }
    }
    if (replies.length > 1 && !replies.every((reply) => reply.equals(replies[0]!))) t.fail(`request ${i}: replies differ`);
  }
  t.pass('every request answered with a valid Accounting-Response');
  t.equal((await s.server.accountingStore.activeSessions()).length, count, 'every session in the table');
  const lines = await sinkLines(sink);
  t.equal(lines.length, count, 'one sink line per record');
  t.equal(new Set(lines.map((line) => line['session_id'])).size, count, 'no record written twice');
  t.equal(await s.metric('portcullis_accounting_records_total', { status: 'start' }), count);
  t.ok((await s.metric('portcullis_radius_duplicates_replayed_total')) >= count / 25, 'late retransmissions replayed');

  // RFC 2866 §3: a Request Authenticator made with another secret: dropped, not stored.
  const forgedBefore = await dropped(s, 'bad-request-authenticator');
  const forged = accountingRequest(250, 'not-the-shared-secret', startOf('forged'));
  await nas.send(forged);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notOk(nas.replies.has(250), 'no reply to a wrong secret');
  t.equal(await dropped(s, 'bad-request-authenticator'), forgedBefore + 1, 'counted as bad-request-authenticator');

  // RFC 2866 §5.1, §5.5: Acct-Status-Type, and Acct-Session-Id on a session record, must be present.
  const malformedBefore = await dropped(s, 'malformed-accounting');
  await nas.send(accountingRequest(251, s.secret, [stringAttr(Attr.AcctSessionId, 'no-status')]));
  await nas.send(accountingRequest(252, s.secret, [integerAttr(Attr.AcctStatusType, AcctStatusTypeValue.Start)]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notOk(nas.replies.has(251) || nas.replies.has(252), 'no reply to malformed records');
  t.equal(await dropped(s, 'malformed-accounting'), malformedBefore + 2, 'counted as malformed-accounting');

  t.equal((await s.server.accountingStore.activeSessions()).length, count, 'nothing more stored');
  t.equal((await sinkLines(sink)).length, count, 'nothing more written');
});

t.test('a graceful stop loses no answered record, and the next server appends', async (t) => {
  const count = 150;
  const { sink, s: first, nas, requests } = await volumeSetup(t, 'r', count);
  // Stop while the records are arriving: those being stored are written and answered, those not
  // yet taken get no reply (the NAS would retransmit them to the next server).
  const sending = Promise.all(requests.map((request) => nas.send(request)));
  while (nas.replies.size === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  await first.server.stop();
  await sending;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const answered = [...nas.replies.keys()].map((id) => `r${id}`);
  const written = (await sinkLines(sink)).map((line) => line['session_id']);
  t.ok(answered.length > 0, `records answered around the stop: ${answered.length} of ${count}`);
  t.same(
    answered.filter((id) => !written.includes(id)),
    [],
    'every answered record is in the sink',
  );
  t.same(
    written.filter((id) => typeof id !== 'string' || !answered.includes(id)),
    [],
    'and every record written was answered: the stop let those being stored finish',
  );
  t.equal(new Set(written).size, written.length, 'no record written twice');

  const second = await startAccountingServer(t, sink);
  const nas2 = await AccountingNas.open(t, second.accountingPort);
  await nas2.send(accountingRequest(0, second.secret, startOf('after-restart')));
  await nas2.settle([0], 3_000);
  t.ok(nas2.replies.has(0), 'the next server answers');
  const after = (await sinkLines(sink)).map((line) => line['session_id']);
  t.same(after.slice(0, written.length), written, 'earlier lines kept');
  t.equal(after.at(-1), 'after-restart', 'the next server appends');
});
