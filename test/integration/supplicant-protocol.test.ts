/**
 * The TypeScript EAP-TLS supplicant against the real server over real UDP: retransmissions,
 * a revoked certificate, a Nak, EAP responses with the wrong identifier, and the NAS stand-in's
 * own checks.
 */
import { createHash, createHmac } from 'node:crypto';
import t from 'tap';
import { EapCode, EapType, encodeEap } from '../../src/codec/eap/index.ts';
import {
  Attr, PacketCode, decodePacket, encodeRequest, encodeResponse, getStringAttribute, splitEapMessage, stringAttr,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';
import { decryptMppeKeys, expectNoReply, readVlan, sendAccessRequest, sendRaw, verifyAccessReply } from '../support/radius-client.ts';
import { decisionsOf, eapTlsData, peerCredentials, testSupplicant } from '../support/supplicant.ts';
import { startTestServer } from '../support/test-server.ts';

const DUPLICATES = 'portcullis_radius_duplicates_replayed_total';
const DROPPED = 'portcullis_radius_packets_dropped_total';
/**
 * TLS record content types (RFC 8446 §5.1); TLS 1.3 protected records, alerts included, travel as
 * application_data (§5.2).
 */
const TlsContent = { Alert: 21, ApplicationData: 23 } as const;
/** RFC 8446 §6: certificate_revoked. */
const ALERT_CERTIFICATE_REVOKED = 44;

t.test('EAP-TLS supplicant: protocol edges', async (t) => {
  const server = await startTestServer(t);
  const run = await testSupplicant(server);
  const secret = Buffer.from(server.secret);

  t.test('the NAS stand-in refuses replies that fail a check, and the raw helpers', async (t) => {
    const identity = encodeEap({ code: EapCode.Response, identifier: 7, type: EapType.Identity, data: Buffer.from('nas-check') });
    const request = encodeRequest({
      code: PacketCode.AccessRequest,
      identifier: 42,
      attributes: [stringAttr(Attr.UserName, 'nas-check'), ...splitEapMessage(identity)],
      secret,
    });
    const raw = await sendRaw(server.port, request, 5_000);
    if (raw === undefined) return void t.fail('no reply');
    const original = { identifier: 42, authenticator: request.subarray(4, 20) };
    const reply = verifyAccessReply(raw, original, secret);
    t.equal(reply.code, PacketCode.AccessChallenge, 'a genuine reply passes');

    t.throws(() => verifyAccessReply(raw, original, Buffer.from('wrong-secret')), /Response Authenticator/);
    t.throws(() => verifyAccessReply(raw, { ...original, identifier: 43 }, secret), /identifier/);
    const tampered = Buffer.from(raw);
    tampered[tampered.length - 1]! ^= 1;
    t.throws(() => verifyAccessReply(tampered, original, secret), /Response Authenticator/);
    // A valid Response Authenticator over a broken Message-Authenticator.
    const badMac = Buffer.from(raw);
    badMac[22]! ^= 1;
    resign(badMac, original.authenticator, secret);
    t.throws(() => verifyAccessReply(badMac, original, secret), /Message-Authenticator is invalid/);
    // Both authenticators valid, but Message-Authenticator not first (BlastRADIUS).
    const moved = decodeOrThrow(raw);
    const reordered = encodeResponse({
      code: moved.code,
      identifier: moved.identifier,
      requestAuthenticator: original.authenticator,
      attributes: moved.attributes.filter((a) => a.type !== Attr.MessageAuthenticator),
      secret,
    });
    // encodeResponse puts the MA first: move it to the end and sign again.
    const last = Buffer.concat([reordered.subarray(0, 20), reordered.subarray(38), reordered.subarray(20, 38)]);
    const macAt = last.length - 16;
    last.fill(0, macAt);
    last.subarray(4, 20).set(original.authenticator);
    createHmac('md5', secret).update(last).digest().copy(last, macAt);
    resign(last, original.authenticator, secret);
    t.throws(() => verifyAccessReply(last, original, secret), /not the first attribute/);

    // The standalone helpers: a request without State gets a verified reply; garbage gets none.
    const challenge = await sendAccessRequest({
      port: server.port,
      secret: server.secret,
      attributes: [stringAttr(Attr.UserName, 'nas-check'), ...splitEapMessage(identity)],
    });
    t.equal(challenge.code, PacketCode.AccessChallenge);
    const tooShortBefore = await server.metric(DROPPED, { reason: 'too-short' });
    await expectNoReply(server.port, Buffer.from('not radius'));
    t.equal((await server.metric(DROPPED, { reason: 'too-short' })) - tooShortBefore, 1, 'the server dropped the garbage');
  });

  t.test('a retransmitted Access-Request gets the byte-identical cached reply', async (t) => {
    const before = await server.metric(DUPLICATES);
    let replayed = 0;
    const result = await run({
      fragmentSize: 300,
      hooks: {
        // RFC 5080 §2.2.2: the NAS resends the same datagram (same source port, Identifier and
        // Request Authenticator) after every reply, the final Access-Accept included.
        afterReply: async ({ round, exchange, client }) => {
          const again = await client.send(exchange.request);
          t.same(again.raw, exchange.reply.raw, `round ${round}: replayed reply is byte-identical`);
          replayed += 1;
        },
      },
    });
    t.equal(result.outcome, 'accept', 'the conversation continues to Access-Accept');
    t.equal(replayed, result.rounds);
    t.equal((await server.metric(DUPLICATES)) - before, result.rounds, 'one replay counted per retransmission');
    const keys = decryptMppeKeys(result.reply, secret, result.requestAuthenticator);
    t.same(Buffer.concat([keys.recv, keys.send]), result.msk);
    t.equal(readVlan(result.reply).tunnelPrivateGroupId, '100');
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    t.test(`${version}: a revoked certificate gets a TLS alert, then Access-Reject with EAP-Failure`, async (t) => {
      const station = `02-00-00-00-03-${version === 'TLSv1.2' ? '12' : '13'}`;
      const revoked = await peerCredentials(server.pki, 'client-revoked');
      const result = await run({ ...revoked, minVersion: version, maxVersion: version, callingStationId: station });
      t.equal(result.outcome, 'reject');
      t.equal(result.reply.code, PacketCode.AccessReject);
      t.equal(result.finalEap?.code, EapCode.Failure, 'EAP-Failure');
      t.equal(result.msk, undefined, 'no keys for the peer');

      const last = result.challenges.at(-1);
      const record = last === undefined ? undefined : eapTlsData(last).fragment;
      if (version === 'TLSv1.2') {
        // The peer has not received the server's ChangeCipherSpec: the alert is plaintext.
        t.equal(record?.[0], TlsContent.Alert, 'the last Access-Challenge carries a TLS alert record');
        t.same(record?.subarray(5), Buffer.from([2, ALERT_CERTIFICATE_REVOKED]), 'fatal certificate_revoked');
      } else {
        // RFC 8446 §5.2: after the handshake only protected records; 3 inner octets + 16 tag octets.
        t.equal(record?.[0], TlsContent.ApplicationData, 'the alert travels as a protected record');
        t.equal(record?.length, 5 + 3 + 16, 'one protected alert record');
      }
      // Either way the client's own TLS stack must read the reason.
      t.match(result.tlsError?.message ?? '', /alert certificate revoked/, 'the client TLS stack read certificate_revoked');
      const answer = eapTlsData(result.responses.at(-1)!).fragment;
      const alertOrNothing = answer.length === 0 || answer[0] === TlsContent.Alert || answer[0] === TlsContent.ApplicationData;
      t.ok(alertOrNothing, 'the peer answered the alert with nothing or an alert of its own');

      t.match(decisionsOf(server, station), [{ outcome: 'reject', reason: 'certificate-revoked', tls_version: version }]);
      t.notOk(readVlan(result.reply).tunnelPrivateGroupId, 'no VLAN on a reject');
    });
  }

  t.test('an EAP-Nak in answer to EAP-TLS Start ends in Access-Reject (peer-nak)', async (t) => {
    const station = '02-00-00-00-04-01';
    // RFC 3748 §5.3.1: the peer proposes EAP-TTLS (21) instead.
    const result = await run({ nak: [EapType.Ttls], callingStationId: station });
    t.equal(result.outcome, 'reject');
    t.equal(result.rounds, 2, 'Identity, then the Nak');
    t.equal(result.responses.at(-1)?.type, EapType.Nak);
    t.equal(result.finalEap?.code, EapCode.Failure, 'EAP-Failure');
    t.match(getStringAttribute(result.reply, Attr.ReplyMessage), /peer-nak/);
    t.match(decisionsOf(server, station), [{ outcome: 'reject', reason: 'peer-nak' }]);
  });

  t.test('an EAP response with the wrong identifier is discarded; the right one continues', async (t) => {
    const discardedBefore = await server.metric(DROPPED, { reason: 'eap-discarded' });
    let doctored = 0;
    let previous: Buffer | undefined;
    const result = await run({
      fragmentSize: 300,
      hooks: {
        // RFC 3748 §4.1: a response whose Identifier does not match the outstanding request is
        // silently discarded. Round 2 (the ClientHello): one off by one; round 3: the previous
        // round's response again, in a new Access-Request.
        beforeRequest: async ({ round, eap, attributesFor, client }) => {
          if (round === 2) {
            const wrong = Buffer.from(eap);
            wrong[1] = (eap[1]! + 1) & 0xff;
            await client.expectNoReply(client.encodeAccessRequest(attributesFor(wrong)));
            doctored += 1;
          }
          if (round === 3 && previous !== undefined) {
            await client.expectNoReply(client.encodeAccessRequest(attributesFor(previous)));
            doctored += 1;
          }
          previous = eap;
        },
      },
    });
    t.equal(result.outcome, 'accept', 'the conversation continues to Access-Accept');
    t.ok(result.rounds >= 5);
    t.equal(doctored, 2);
    t.equal(
      (await server.metric(DROPPED, { reason: 'eap-discarded' })) - discardedBefore,
      doctored,
      'each one counted as eap-discarded',
    );
  });
});

/** Recomputes the Response Authenticator of `reply` in place (RFC 2865 §3). */
function resign(reply: Buffer, requestAuthenticator: Buffer, secret: Buffer): void {
  createHash('md5')
    .update(reply.subarray(0, 4))
    .update(requestAuthenticator)
    .update(reply.subarray(20))
    .update(secret)
    .digest()
    .copy(reply, 4);
}

function decodeOrThrow(datagram: Buffer): RadiusPacket {
  const decoded = decodePacket(datagram);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.packet;
}
