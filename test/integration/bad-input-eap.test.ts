/**
 * Bad input at the EAP layer, on real sockets: well-signed Access-Requests whose EAP is garbage,
 * whose State is unknown, whose EAP-TLS reassembly or round count runs over the limits, or that
 * open more conversations than the caps allow. Each is rejected (or dropped) and counted, and a
 * real eapol_test authenticates right after. RADIUS-level bad input is in bad-input.test.ts.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Attr, PacketCode, getAttribute, joinEapMessage, type RadiusPacket } from '../../src/codec/radius/index.ts';
import { EapCode, EapType, decodeEap, encodeEap, encodeEapTlsData } from '../../src/codec/eap/index.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { openProbe, type UdpProbe } from '../support/udp-probe.ts';
import { FakeWebhook } from '../support/fake-webhook.ts';
import { RadiusTestClient } from '../support/radius-client.ts';
import { EapTlsSupplicant, peerCredentials, type AccessExchanger } from '../support/supplicant.ts';
import {
  accessRequest,
  assertStillServes,
  challengeOf,
  checkReply,
  counters,
  dropped,
  expectDropped,
  expectRejected,
  identityResponse,
  lastDecision,
  movedSince,
  openConversation,
  rejected,
  sendTls,
  series,
  tlsResponse,
  type Conversation,
} from '../support/bad-input-kit.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** EAP-Response/Nak proposing no method (RFC 3748 §5.3.1): ends a conversation with 'peer-nak'. */
async function endWithNak(t: Test, s: TestServer, probe: UdpProbe, conversation: Conversation): Promise<void> {
  const nak = encodeEap({ code: EapCode.Response, identifier: conversation.identifier, type: EapType.Nak, data: Buffer.from([0]) });
  const request = accessRequest(s.secret, { eap: nak, state: conversation.state });
  const before = await counters(s);
  checkReply(t, request, await probe.exchange(request), PacketCode.AccessReject, s.secret);
  t.same(await movedSince(s, before), { [rejected('peer-nak')]: 1 }, 'the Nak ends the conversation');
}

/**
 * Sends one EAP-TLS response that must end the conversation: a verified Access-Reject with
 * EAP-Failure, one reject counted for `reason`, and a decision log line with `detail`.
 */
async function expectTlsFailure(
  t: Test,
  s: TestServer,
  probe: UdpProbe,
  conversation: Conversation,
  typeData: Buffer,
  reason: string,
  detail: string | undefined,
): Promise<void> {
  const before = await counters(s);
  const reply = await sendTls(t, s, probe, conversation, typeData, 'reject');
  t.same(await movedSince(s, before), { [rejected(reason)]: 1 }, `${reason}: rejected and counted once`);
  expectEapFailure(t, reply, conversation.identifier);
  t.equal(reply && getAttribute(reply, Attr.ReplyMessage)?.toString(), `rejected: ${reason}`, 'Reply-Message names the reason');
  t.match(lastDecision(s), { outcome: 'reject', reason, detail }, 'decision log line');
}

/** RFC 3579 §2.6.3: the Access-Reject ending a conversation carries EAP-Failure. */
function expectEapFailure(t: Test, reply: RadiusPacket | undefined, identifier: number): void {
  const eap = reply && joinEapMessage(reply);
  const decoded = eap && decodeEap(eap);
  t.ok(decoded?.ok === true && decoded.packet.code === EapCode.Failure && decoded.packet.identifier === identifier, 'EAP-Failure');
}

/** Type-Data of an EAP-TLS fragment: L (when given), M, and `size` octets of junk TLS data. */
const fragment = (size: number, more: boolean, tlsMessageLength?: number): Buffer =>
  encodeEapTlsData(tlsMessageLength === undefined ? { more, fragment: randomBytes(size) } : { more, tlsMessageLength, fragment: randomBytes(size) });

const s = await startTestServer(t);
const probe = await openProbe(t, s.port);

t.test('6. EAP garbage in a well-signed request is rejected', async (t) => {
  const cases: [string, Buffer][] = [
    ['eap-too-short', hex('02 00 00')],
    ['eap-too-short', Buffer.alloc(0)],
    ['eap-too-short', hex('02 00 00 02 01')],
    ['eap-unknown-code', hex('09 00 00 05 01')],
    ['eap-length-mismatch', hex('02 00 00 20 01 61')],
    ['eap-missing-type', hex('02 00 00 04')],
    ['eap-success-failure-with-data', hex('03 00 00 05 00')],
  ];
  for (const [reason, eap] of cases) await expectRejected(t, s, probe, accessRequest(s.secret, { eap }), reason);
  await assertStillServes(t, s, 'EAP garbage');
});

t.test('7. unknown, stale and missing State', async (t) => {
  const tlsAck = encodeEapTlsData({ fragment: Buffer.alloc(0) });
  await expectRejected(t, s, probe, accessRequest(s.secret, { eap: tlsResponse(1, tlsAck), state: randomBytes(16) }), 'unknown-state');
  await expectRejected(t, s, probe, accessRequest(s.secret, { eap: identityResponse(), state: randomBytes(16) }), 'unknown-state');
  await expectRejected(t, s, probe, accessRequest(s.secret, { eap: identityResponse(), state: Buffer.alloc(0) }), 'unknown-state');
  // RFC 3748 §5.1: only an EAP-Response/Identity may start a conversation.
  await expectRejected(t, s, probe, accessRequest(s.secret, { eap: tlsResponse(1, tlsAck) }), 'no-state');
  const requestIdentity = encodeEap({ code: EapCode.Request, identifier: 0, type: EapType.Identity, data: Buffer.alloc(0) });
  await expectRejected(t, s, probe, accessRequest(s.secret, { eap: requestIdentity }), 'no-state');

  // Inside a live conversation, a response that does not answer the outstanding request is
  // silently discarded (RFC 3748 §4.1) and the conversation goes on.
  const conversation = await openConversation(t, s, probe);
  const wrongId = tlsResponse((conversation.identifier + 1) & 0xff, tlsAck);
  await expectDropped(t, s, probe, accessRequest(s.secret, { eap: wrongId, state: conversation.state }), 'eap-discarded');
  const notAResponse = encodeEap({ code: EapCode.Request, identifier: conversation.identifier, type: EapType.Tls, data: tlsAck });
  await expectDropped(t, s, probe, accessRequest(s.secret, { eap: notAResponse, state: conversation.state }), 'eap-discarded');
  await endWithNak(t, s, probe, conversation);
  // The State of a finished conversation names nothing any more.
  const stale = accessRequest(s.secret, { eap: tlsResponse(conversation.identifier, tlsAck), state: conversation.state });
  await expectRejected(t, s, probe, stale, 'unknown-state');
  t.equal(s.server.sessionsInFlight, 0, 'no conversation left open');
  await assertStillServes(t, s, 'unknown and missing State');
});

t.test('8. EAP-TLS reassembly over the limits is rejected', async (t) => {
  // Default cap (65536): a first fragment declaring L = 10,000,000 with M set.
  let conversation = await openConversation(t, s, probe);
  await expectTlsFailure(t, s, probe, conversation, fragment(200, true, 10_000_000), 'eap-tls-reassembly', 'message-too-large');
  t.equal(s.server.sessionsInFlight, 0, 'the conversation is gone');
  await assertStillServes(t, s, 'an oversized TLS Message Length');

  // max_tls_message_bytes: 4096 (the schema's minimum).
  const capped = await startTestServer(t, { eapYaml: 'eap:\n  max_tls_message_bytes: 4096' });
  const cappedProbe = await openProbe(t, capped.port);
  conversation = await openConversation(t, capped, cappedProbe);
  await expectTlsFailure(t, capped, cappedProbe, conversation, fragment(1000, true, 4097), 'eap-tls-reassembly', 'message-too-large');
  // L at the cap, then fragments that run past it: 4 x 1000 are ACKed, the 5th goes over.
  conversation = await openConversation(t, capped, cappedProbe);
  await sendTls(t, capped, cappedProbe, conversation, fragment(1000, true, 4096), 'ack');
  for (let i = 0; i < 3; i++) await sendTls(t, capped, cappedProbe, conversation, fragment(1000, true), 'ack');
  await expectTlsFailure(t, capped, cappedProbe, conversation, fragment(1000, true), 'eap-tls-reassembly', 'exceeds-declared-length');
  // The last fragment (M clear) runs past L as well.
  conversation = await openConversation(t, capped, cappedProbe);
  await sendTls(t, capped, cappedProbe, conversation, fragment(1000, true, 4096), 'ack');
  await sendTls(t, capped, cappedProbe, conversation, fragment(1000, true, 4096), 'ack');
  await expectTlsFailure(t, capped, cappedProbe, conversation, fragment(2500, false), 'eap-tls-reassembly', 'exceeds-declared-length');
  t.equal(capped.server.sessionsInFlight, 0, 'no conversation left open');
  await assertStillServes(t, capped, 'reassembly over max_tls_message_bytes');
});

t.test('9. session caps', async (t) => {
  for (const [cap, options] of [
    ['client', { clientYaml: '    max_sessions: 2' }],
    ['total', { eapYaml: 'eap:\n  max_sessions: 2' }],
  ] as const) {
    const capped = await startTestServer(t, options);
    const cappedProbe = await openProbe(t, capped.port);
    const open = [await openConversation(t, capped, cappedProbe), await openConversation(t, capped, cappedProbe)];
    const before = await counters(capped);
    const third = accessRequest(capped.secret, { eap: identityResponse() });
    const reply = checkReply(t, third, await cappedProbe.exchange(third), PacketCode.AccessReject, capped.secret);
    t.equal(reply && getAttribute(reply, Attr.ReplyMessage)?.toString(), `rejected: session-cap-${cap}`, `${cap} cap: Reply-Message`);
    t.same(
      await movedSince(capped, before),
      { [rejected(`session-cap-${cap}`)]: 1, [series('portcullis_eap_session_cap_hits_total', { cap })]: 1 },
      `${cap} cap: rejected and counted once`,
    );
    t.equal(await capped.metric('portcullis_eap_session_cap_hits_total', { cap }), 1, `${cap} cap hit once`);
    t.equal(await capped.metric('portcullis_eap_sessions_in_flight'), 2, 'two conversations in flight');
    // Finished conversations free their places.
    for (const conversation of open) await endWithNak(t, capped, cappedProbe, conversation);
    t.equal(capped.server.sessionsInFlight, 0, 'no conversation left open');
    await assertStillServes(t, capped, `the ${cap} session cap`);
  }
});

t.test('10. a conversation that never ends hits max_rounds', async (t) => {
  const maxRounds = 12;
  const limited = await startTestServer(t, { eapYaml: `eap:\n  max_rounds: ${maxRounds}` });
  const limitedProbe = await openProbe(t, limited.port);
  const conversation = await openConversation(t, limited, limitedProbe);
  // Round 1 was the Identity; fragments of a 60,000-octet message keep it going, 100 at a time.
  await sendTls(t, limited, limitedProbe, conversation, fragment(100, true, 60_000), 'ack');
  for (let round = 3; round <= maxRounds; round++) await sendTls(t, limited, limitedProbe, conversation, fragment(100, true), 'ack');
  await expectTlsFailure(t, limited, limitedProbe, conversation, fragment(100, true), 'too-many-rounds', undefined);
  t.equal(limited.server.sessionsInFlight, 0, 'no conversation left open');
  await assertStillServes(t, limited, 'max_rounds');
  t.comment(`eapol_test needed ${String(lastDecision(limited)?.['rounds'])} rounds`);
});

t.test('12. a retransmission while the original is in progress is dropped, then replayed', async (t) => {
  // Every request of a whole authentication goes out twice, the copy 20 ms after the original.
  // The TLS steps are answered at once, so their copies get the cached reply; the policy waits
  // 300 ms for the identity webhook, so the copy of that request finds it in progress.
  const webhook = await FakeWebhook.start();
  t.teardown(() => webhook.close());
  webhook.setEntry({ id: 'laptop-ec.portcullis.test', status: 'active' });
  webhook.setDelay(300);
  const slow = await startTestServer(t, {
    extraYaml: `
identity:
  providers:
    - name: directory
      type: webhook
      url: ${webhook.endpoint}
      headers: { Authorization: ${webhook.authorization} }
      timeout_ms: 2000
  lookups:
    - name: people
      provider: directory
      key: subject_cn
`,
  });
  const client = await RadiusTestClient.open({ port: slow.port, secret: slow.secret });
  t.teardown(() => client.close());
  let requests = 0;
  const twice: AccessExchanger = {
    async exchange(attributes) {
      const request = client.encodeAccessRequest(attributes);
      requests++;
      const exchange = client.exchangeEncoded(request);
      await sleep(20);
      await client.sendCopy(request);
      const answered = await exchange;
      await sleep(20); // the copy's reply, when there is one, arrives before the next request leaves
      return answered;
    },
  };
  const before = await counters(slow);
  const credentials = await peerCredentials(slow.pki, 'client-ec');
  const result = await new EapTlsSupplicant({ port: slow.port, secret: slow.secret, ...credentials }).run(twice);
  t.equal(result.outcome, 'accept', 'the authentication succeeds');
  const moved = await movedSince(slow, before);
  const inProgress = moved[dropped('duplicate-in-progress')] ?? 0;
  const replayed = moved[series('portcullis_radius_duplicates_replayed_total')] ?? 0;
  t.ok(inProgress >= 1, `the copy of the request the policy decides on is dropped as in progress (${inProgress})`);
  t.equal(inProgress + replayed, requests, 'every copy is either dropped or answered from the cache');
  t.equal(client.unexpected.length, replayed, 'one reply per replayed copy, none for a dropped one');
  t.equal(slow.server.sessionsInFlight, 0, 'no conversation left open');
});

// While the TLS engine works on a flight the session is 'processing': a second Access-Request
// (new RADIUS Identifier, so no reply-cache hit) with the same EAP-Response is discarded.
t.test('the same EAP-Response in two requests at once is handled once', async (t) => {
  const conversation = await openConversation(t, s, probe);
  const hello = encodeEapTlsData({ fragment: hex('16 03 01 00 08 01 00 00 04 03 03 00 00') });
  const eap = tlsResponse(conversation.identifier, hello);
  const first = accessRequest(s.secret, { eap, state: conversation.state });
  const second = accessRequest(s.secret, { eap, state: conversation.state });
  const before = await counters(s);
  await Promise.all([probe.send(first), probe.send(second)]);
  const replies = await probe.drain();
  const moved = await movedSince(s, before);
  const codes = replies.map((reply) => reply.readUInt8(0));
  t.equal(replies.length, 1, `one reply, got codes [${codes.join(',')}] and ${JSON.stringify(moved)}`);
  t.equal(moved[dropped('eap-discarded')], 1, 'the second copy is discarded');
  t.notOk(moved[rejected('tls-handshake-failed')], 'the conversation is not broken by the copy');
  // Whatever happened, end the conversation so later cases start clean.
  if (s.server.sessionsInFlight !== 0) {
    const alert = challengeOf(t, checkReply(t, first, replies[0], PacketCode.AccessChallenge, s.secret));
    if (alert !== undefined) await sendTls(t, s, probe, alert.conversation, encodeEapTlsData({ fragment: Buffer.alloc(0) }), 'reject');
  }
  t.equal(s.server.sessionsInFlight, 0, 'no conversation left open');
  await assertStillServes(t, s, 'two copies of one EAP-Response');
});
