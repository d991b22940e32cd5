/**
 * Bad input at the RADIUS layer, on real sockets: wrong secrets, missing or forged
 * Message-Authenticators, broken framing, unknown clients and a flood of random datagrams.
 * Every case is dropped (or rejected) and counted, and a real eapol_test authenticates right after.
 * EAP-level bad input is in bad-input-eap.test.ts.
 */
import t from 'tap';
import fc from 'fast-check';
import { Attr, PacketCode, encodeRequest, splitEapMessage } from '../../src/codec/radius/index.ts';
import { ENABLE_TLS13, runEapolTest } from '../support/eapol-test.ts';
import { startTestServer } from '../support/test-server.ts';
import { openProbe } from '../support/udp-probe.ts';
import {
  accessRequest,
  assertStillServes,
  counters,
  dropped,
  droppedTotal,
  expectDropped,
  expectRejected,
  identityResponse,
  movedSince,
  series,
  unsignedAccessRequest,
  waitForDrops,
} from '../support/bad-input-kit.ts';

const s = await startTestServer(t);
const probe = await openProbe(t, s.port);
const identity = identityResponse();

t.test('1. a request signed with another secret is dropped', async (t) => {
  await expectDropped(t, s, probe, accessRequest('not-the-shared-secret', { eap: identity }), 'bad-message-authenticator');
  await assertStillServes(t, s, 'a wrong secret');
});

t.test('2. a request without Message-Authenticator', async (t) => {
  // RFC 3579 §3.3: EAP-Message without Message-Authenticator is silently discarded.
  await expectDropped(t, s, probe, unsignedAccessRequest({ eap: identity }), 'missing-message-authenticator');
  // require_message_authenticator defaults to true (BlastRADIUS): even without EAP-Message.
  await expectDropped(t, s, probe, unsignedAccessRequest(), 'missing-message-authenticator');

  const lax = await startTestServer(t, { clientYaml: '    require_message_authenticator: false' });
  const laxProbe = await openProbe(t, lax.port);
  await expectRejected(t, lax, laxProbe, unsignedAccessRequest(), 'not-eap');
  await expectDropped(t, lax, laxProbe, unsignedAccessRequest({ eap: identity }), 'missing-message-authenticator');
  await assertStillServes(t, lax, 'missing Message-Authenticators (lax client)');
  await assertStillServes(t, s, 'missing Message-Authenticators');
});

t.test('3. a forged Message-Authenticator is dropped', async (t) => {
  const request = accessRequest(s.secret, { eap: identity });
  // encodeRequest puts Message-Authenticator first: its value starts at octet 22.
  t.equal(request.readUInt8(20), Attr.MessageAuthenticator, 'Message-Authenticator is the first attribute');
  for (const [octet, bit] of [
    [22, 0x01],
    [37, 0x80],
  ] as const) {
    const forged = Buffer.from(request);
    forged.writeUInt8(forged.readUInt8(octet) ^ bit, octet);
    await expectDropped(t, s, probe, forged, 'bad-message-authenticator');
  }
  // A bit flipped in the covered attributes, MA untouched, fails the same check.
  const tampered = Buffer.from(request);
  tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 0x01, tampered.length - 1);
  await expectDropped(t, s, probe, tampered, 'bad-message-authenticator');
  await assertStillServes(t, s, 'forged Message-Authenticators');
});

t.test('4. broken framing is dropped with the codec reason', async (t) => {
  const good = accessRequest(s.secret, { eap: identity });
  const withLength = (packet: Buffer, length: number): Buffer => {
    const copy = Buffer.from(packet);
    copy.writeUInt16BE(length, 2);
    return copy;
  };
  /** A header (code 1, Length set right) followed by `attributes` as raw octets. */
  const framed = (attributes: string): Buffer => {
    const body = Buffer.from(attributes.replace(/\s+/g, ''), 'hex');
    return withLength(Buffer.concat([good.subarray(0, 20), body]), 20 + body.length);
  };
  const ma = `50 12 ${'00'.repeat(16)}`;
  const cases: [string, Buffer][] = [
    ['too-short', Buffer.alloc(0)],
    ['too-short', good.subarray(0, 19)],
    ['too-long', Buffer.concat([good, Buffer.alloc(4097 - good.length)])],
    ['truncated', withLength(good, good.length + 1)],
    ['truncated', withLength(good.subarray(0, 20), 4096)],
    ['bad-length-field', withLength(good, 19)],
    ['bad-length-field', withLength(Buffer.concat([good, Buffer.alloc(4096 - good.length)]), 4097)],
    ['unknown-code', Buffer.concat([Buffer.from([99]), good.subarray(1)])],
    ['attribute-header-overflow', framed('01 06 61 62 63 64 1f')],
    ['attribute-too-short', framed('01 01 61 62')],
    ['attribute-too-short', framed('01 00')],
    ['attribute-overflow', framed('01 10 61 62 63')],
    ['bad-message-authenticator-length', framed(`50 0a ${'00'.repeat(8)}`)],
    ['duplicate-message-authenticator', framed(`${ma} ${ma}`)],
  ];
  for (const [reason, datagram] of cases) await expectDropped(t, s, probe, datagram, reason);

  // Well-framed and signed, but not a request this server serves (RFC 2865 §3).
  const accounting = encodeRequest({
    code: PacketCode.AccountingRequest,
    identifier: 7,
    attributes: [{ type: Attr.AcctStatusType, value: Buffer.from([0, 0, 0, 1]) }],
    secret: Buffer.from(s.secret),
  });
  await expectDropped(t, s, probe, accounting, 'unsupported-code');
  // Status-Server is served (RFC 5997, test/integration/accounting.test.ts); CoA is not.
  const coa = encodeRequest({ code: PacketCode.CoaRequest, identifier: 8, attributes: [], secret: Buffer.from(s.secret) });
  await expectDropped(t, s, probe, coa, 'unsupported-code');
  const fakeAccept = Buffer.from(good);
  fakeAccept.writeUInt8(PacketCode.AccessAccept, 0);
  await expectDropped(t, s, probe, fakeAccept, 'unsupported-code');
  await assertStillServes(t, s, 'broken framing');
});

t.test('5. a request from an address outside the client table is dropped', async (t) => {
  const stranger = await openProbe(t, s.port, '127.0.0.2');
  const received = 'portcullis_radius_packets_received_total';
  const unknownBefore = await s.metric(received, { code: 'access-request', client: 'unknown' });
  await expectDropped(t, s, stranger, accessRequest(s.secret, { eap: identity }), 'unknown-client');
  t.equal(await s.metric(received, { code: 'access-request', client: 'unknown' }), unknownBefore + 1, 'counted as received from unknown');
  await assertStillServes(t, s, 'an unknown client');
});

t.test('11. a flood of random datagrams from the known client', async (t) => {
  const seed = Number(process.env['BAD_INPUT_SEED'] ?? Date.now() % 0x7fffffff);
  t.comment(`seed ${seed} (BAD_INPUT_SEED=${seed} replays this flood)`);
  const codes = Object.values(PacketCode);
  const anyBytes = fc.integer({ min: 0, max: 5000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
  // A header the codec accepts (known code, Length = datagram) over random attribute octets.
  const framedBytes = fc
    .tuple(fc.constantFrom(...codes), fc.integer({ min: 0, max: 4076 }))
    .chain(([code, n]) =>
      fc.uint8Array({ minLength: 20 + n, maxLength: 20 + n }).map((bytes) => {
        bytes[0] = code;
        bytes[2] = (20 + n) >> 8;
        bytes[3] = (20 + n) & 0xff;
        return bytes;
      }),
    );
  const datagrams = fc.sample(fc.oneof(anyBytes, framedBytes), { seed, numRuns: 2000 }).map((bytes) => Buffer.from(bytes));

  const before = await counters(s);
  const droppedBefore = await droppedTotal(s);
  // Batches small enough for the default socket receive buffer: a kernel drop would not be the server's.
  const batch = 10;
  let keepingUp = true;
  for (let start = 0; start < datagrams.length && keepingUp; start += batch) {
    const slice = datagrams.slice(start, start + batch);
    await Promise.all(slice.map((datagram) => probe.send(datagram)));
    keepingUp = await waitForDrops(s, droppedBefore + start + slice.length, 2000);
  }
  t.ok(keepingUp, 'the server keeps up with the flood');
  const replies = await probe.drain(100);
  t.same(replies, [], 'no replies to random datagrams');
  t.equal((await droppedTotal(s)) - droppedBefore, 2000, 'every datagram dropped and counted');
  const moved = await movedSince(s, before);
  t.same(
    Object.keys(moved).filter((key) => !key.startsWith('portcullis_radius_packets_dropped_total')),
    [],
    'nothing but the dropped counter moved',
  );
  t.comment(`drop reasons: ${JSON.stringify(moved)}`);
  t.equal(s.server.sessionsInFlight, 0, 'no conversation opened');
  await assertStillServes(t, s, 'a flood of random datagrams');
});

t.test('the counters name only closed-set reasons', async (t) => {
  const keys = [...(await counters(s)).keys()];
  t.ok(keys.includes(series('portcullis_radius_packets_dropped_total', { reason: 'too-short' })), 'codec reasons are labels');
  t.notOk(
    keys.some((key) => key.includes('internal-error')),
    'no request ended in an internal error',
  );
});

// Proxy-State is echoed in the reply (RFC 2865 §5.33), which must fit in 4096 octets (RFC 2865 §3):
// more than MAX_PROXY_STATE_OCTETS is dropped before any work, and nothing is left behind.
t.test('a request whose Proxy-State cannot fit in the reply', async (t) => {
  const own = await startTestServer(t);
  const ownProbe = await openProbe(t, own.port);
  const proxyState = [
    ...Array.from({ length: 15 }, () => ({ type: Attr.ProxyState, value: Buffer.alloc(253, 0x41) })),
    { type: Attr.ProxyState, value: Buffer.alloc(210, 0x42) },
  ];
  for (const [what, eap] of [
    ['EAP-Response/Identity', identity],
    ['EAP garbage', Buffer.from('020000', 'hex')],
  ] as const) {
    const request = encodeRequest({
      code: PacketCode.AccessRequest,
      identifier: 9,
      attributes: [...splitEapMessage(eap), ...proxyState],
      secret: Buffer.from(own.secret),
    });
    t.ok(request.length <= 4096, `${what}: a valid ${request.length}-octet request`);
    const before = await counters(own);
    const reply = await ownProbe.exchange(request);
    const moved = await movedSince(own, before);
    t.equal(reply, undefined, `${what}: no reply`);
    t.same(moved, { [dropped('proxy-state-too-long')]: 1 }, `${what}: dropped as proxy-state-too-long, nothing else counted`);
    t.equal(own.server.sessionsInFlight, 0, `${what}: no conversation left behind`);
  }
  t.same(own.logs.filter((line) => Number(line['level']) >= 50).length, 0, 'no error logged');
});

t.test('Proxy-State within the bound is echoed, and EAP-TLS fragments shrink to leave room for it', async (t) => {
  const own = await startTestServer(t, { tlsYaml: '  max_fragment_size: 3000' });
  // 8 x (2 + 250) = 2016 octets of Proxy-State; Framed-MTU 4000 lets the 3000-octet ceiling bind.
  const proxyStates = Array.from({ length: 8 }, (_, i) => `-N33:x:${Buffer.alloc(250, 0x30 + i).toString('hex')}`);
  const run = await runEapolTest({
    port: own.port,
    secret: own.secret,
    clientCert: own.pki.clients['client-ec'].cert,
    privateKey: own.pki.clients['client-ec'].key,
    caCert: own.pki.root.cert,
    phase1: ENABLE_TLS13,
    args: ['-N12:d:4000', ...proxyStates],
  });
  t.ok(run.success, 'authentication succeeds with 2016 octets of Proxy-State');
  t.equal(run.lastReplyCode, 'Access-Accept');
  const accept = run.messages.at(-1);
  t.equal(accept?.attributes.filter((a) => a.type === Attr.ProxyState).length, 8, 'every Proxy-State echoed in the Accept');
  const lengths = run.messages
    .filter((m) => m.direction === 'received')
    .map((m) => 20 + m.attributes.reduce((sum, attribute) => sum + attribute.length, 0));
  const longest = Math.max(...lengths);
  t.ok(longest <= 4096 && longest > 3000, `the largest reply (${longest} octets) is full but fits in 4096`);
});
