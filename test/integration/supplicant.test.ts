/**
 * The TypeScript EAP-TLS supplicant against the real server over real UDP: accepted
 * authentications with TLS 1.2 and 1.3, keys and VLAN, fragmentation both ways, resumption,
 * concurrent conversations, State and EAP identifiers.
 */
import t from 'tap';
import type { Test } from 'tap';
import { EapCode, EapType } from '../../src/codec/eap/index.ts';
import {
  Attr,
  PacketCode,
  TunnelMediumTypeValue,
  TunnelTypeValue,
  getAttribute,
  getIntegerAttribute,
  joinEapMessage,
} from '../../src/codec/radius/index.ts';
import { decryptMppeKeys, readVlan } from '../support/radius-client.ts';
import { decisionsOf, eapTlsData, peerCredentials, testSupplicant, type SupplicantResult } from '../support/supplicant.ts';
import { startTestServer } from '../support/test-server.ts';

const VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

t.test('EAP-TLS supplicant against the server', async (t) => {
  const server = await startTestServer(t);
  const run = await testSupplicant(server);
  const secret = Buffer.from(server.secret);

  /** Accept, the peer's MSK in both MPPE keys, the Staff VLAN and Session-Timeout. */
  const assertAccepted = (t: Test, result: SupplicantResult, version: string): void => {
    t.equal(result.outcome, 'accept', `${version}: accepted`);
    t.equal(result.reply.code, PacketCode.AccessAccept);
    t.equal(result.tlsVersion, version);
    t.ok(result.handshakeComplete, 'the client finished the handshake');
    t.equal(result.finalEap?.code, EapCode.Success, 'EAP-Success');
    if (version === 'TLSv1.3') t.ok(result.successIndication, 'RFC 9190 protected success indication seen before EAP-Success');
    const { msk, emsk, sessionId } = result;
    if (msk === undefined || emsk === undefined || sessionId === undefined) return void t.fail('no key material');
    t.equal(msk.length, 64);
    t.equal(emsk.length, 64);
    t.equal(sessionId.length, 65, 'Session-Id is 0x0D and 64 octets');
    t.equal(sessionId[0], EapType.Tls);
    const keys = decryptMppeKeys(result.reply, secret, result.requestAuthenticator);
    t.same(keys.recv, msk.subarray(0, 32), 'MS-MPPE-Recv-Key = MSK[0..32)');
    t.same(keys.send, msk.subarray(32, 64), 'MS-MPPE-Send-Key = MSK[32..64)');
    t.same(readVlan(result.reply), {
      tunnelType: TunnelTypeValue.Vlan,
      tunnelMediumType: TunnelMediumTypeValue.Ieee802,
      tunnelPrivateGroupId: '100',
    });
    t.equal(getIntegerAttribute(result.reply, Attr.SessionTimeout), 3600);
  };

  for (const version of VERSIONS) {
    t.test(`${version}: Access-Accept with keys, VLAN and EAP-Key-Name`, async (t) => {
      const station = `02-00-00-00-01-${version === 'TLSv1.2' ? '12' : '13'}`;
      const asked = await run({ minVersion: version, maxVersion: version, requestKeyName: true, callingStationId: station });
      assertAccepted(t, asked, version);
      t.same(getAttribute(asked.reply, Attr.EapKeyName), asked.sessionId, 'EAP-Key-Name is the peer-derived Session-Id');

      const notAsked = await run({ minVersion: version, maxVersion: version, callingStationId: station });
      assertAccepted(t, notAsked, version);
      t.equal(getAttribute(notAsked.reply, Attr.EapKeyName), undefined, 'no EAP-Key-Name unless asked');
      t.notSame(notAsked.msk, asked.msk, 'each handshake has its own MSK');

      const decisions = decisionsOf(server, station);
      t.equal(decisions.length, 2);
      t.match(decisions, [
        { outcome: 'accept', rule: 'staff', vlan: '100', tls_version: version, tls_resumed: false },
        { outcome: 'accept', rule: 'staff', vlan: '100', tls_version: version, tls_resumed: false },
      ]);
    });
  }

  t.test('OU Students gets VLAN 200 (RSA client)', async (t) => {
    const students = await peerCredentials(server.pki, 'client-rsa');
    const result = await run({ ...students });
    t.equal(result.outcome, 'accept');
    t.equal(readVlan(result.reply).tunnelPrivateGroupId, '200');
    const keys = decryptMppeKeys(result.reply, secret, result.requestAuthenticator);
    t.same(Buffer.concat([keys.recv, keys.send]), result.msk);
  });

  for (const version of VERSIONS) {
    t.test(`${version}: fragments both ways (peer 100 octets, Framed-MTU 200)`, async (t) => {
      const mtu = 200;
      const result = await run({ minVersion: version, maxVersion: version, fragmentSize: 100, framedMtu: mtu, requestKeyName: true });
      assertAccepted(t, result, version);
      t.same(getAttribute(result.reply, Attr.EapKeyName), result.sessionId, 'EAP-Key-Name after fragmented hellos');

      // Peer to server: every TLS fragment at most 100 octets, L+M on first fragments, each M fragment ACKed.
      result.responses.forEach((eap, i) => {
        if (eap.type !== EapType.Tls) return;
        const data = eapTlsData(eap);
        t.ok(data.fragment.length <= 100, `round ${i + 1}: peer fragment of ${data.fragment.length} TLS octets`);
        if (!data.more) return;
        const ack = eapTlsData(result.challenges[i]!);
        t.ok(ack.fragment.length === 0 && !ack.more && !ack.length, `round ${i + 1}: the server ACKs a fragment with M set`);
      });
      const peerFirstFragments = result.responses.filter((eap) => eap.type === EapType.Tls && eapTlsData(eap).length);
      t.ok(peerFirstFragments.length >= 1, 'the peer fragmented at least one flight');
      t.ok(peerFirstFragments.every((eap) => eapTlsData(eap).more), 'the peer sets L only on first fragments');

      // Server to peer: each challenge's EAP packet fits the link (Framed-MTU minus the 4-octet EAPOL header).
      const challengeSizes = result.exchanges
        .filter((exchange) => exchange.reply.code === PacketCode.AccessChallenge)
        .map((exchange) => joinEapMessage(exchange.reply)?.length ?? 0);
      t.ok(challengeSizes.every((size) => size <= mtu - 4), `server EAP packets fit Framed-MTU ${mtu}: ${challengeSizes.join(',')}`);
      const serverData = result.challenges.map((eap) => eapTlsData(eap));
      const serverFirstFragments = serverData.filter((data) => data.more && data.length);
      t.ok(serverFirstFragments.length >= 1, 'the server fragmented at least one flight (L+M on its first fragment)');
      t.ok(serverData.filter((data) => data.length).every((data) => data.more), 'L only on first fragments of fragmented messages');
    });
  }

  for (const version of VERSIONS) {
    t.test(`${version}: reconnect with the cached session`, async (t) => {
      const station = `02-00-00-00-02-${version === 'TLSv1.2' ? '12' : '13'}`;
      const first = await run({ minVersion: version, maxVersion: version, callingStationId: station });
      assertAccepted(t, first, version);
      t.notOk(first.resumed, 'the first handshake is a full one');
      t.ok(first.session, 'the server issued a session ticket');

      const second = await run({
        minVersion: version,
        maxVersion: version,
        callingStationId: station,
        session: first.session,
        requestKeyName: true,
      });
      assertAccepted(t, second, version);
      t.same(getAttribute(second.reply, Attr.EapKeyName), second.sessionId, 'EAP-Key-Name of the new handshake');
      t.comment(`${version} reconnect: ${second.resumed ? 'resumed' : 'full handshake'} in ${second.rounds} rounds (first: ${first.rounds})`);
      if (second.resumed) t.ok(second.rounds < first.rounds, 'resumption saves round trips');
      t.notSame(second.msk, first.msk, 'fresh keys on the new handshake');

      const decisions = decisionsOf(server, station);
      t.equal(decisions.length, 2, 'the decision ran again for the second connection');
      t.match(decisions[1], { outcome: 'accept', vlan: '100', tls_version: version, tls_resumed: second.resumed });
    });
  }

  t.test('concurrent conversations do not cross: each gets its own keys and its own VLAN', async (t) => {
    const students = await peerCredentials(server.pki, 'client-rsa');
    const revoked = await peerCredentials(server.pki, 'client-revoked');
    const peers = [
      { credentials: {}, vlan: '100' },
      { credentials: students, vlan: '200' },
      { credentials: revoked, vlan: undefined },
    ] as const;
    const cases = Array.from({ length: 12 }, (_, i) => ({
      peer: peers[i % 3]!,
      version: VERSIONS[i % 2]!,
      // Different fragment sizes and MTUs keep the conversations out of step with each other.
      fragmentSize: 150 + 40 * i,
      framedMtu: 250 + 60 * i,
    }));
    const results = await Promise.all(
      cases.map(({ peer, version, fragmentSize, framedMtu }) =>
        run({ ...peer.credentials, minVersion: version, maxVersion: version, fragmentSize, framedMtu }),
      ),
    );
    results.forEach((result, i) => {
      const { peer, version } = cases[i]!;
      t.equal(result.tlsVersion, version, `conversation ${i}: ${version}`);
      t.equal(readVlan(result.reply).tunnelPrivateGroupId, peer.vlan, `conversation ${i}: VLAN ${peer.vlan ?? 'none'}`);
      if (peer.vlan === undefined) return void t.equal(result.outcome, 'reject', `conversation ${i}: revoked, rejected`);
      const keys = decryptMppeKeys(result.reply, secret, result.requestAuthenticator);
      t.same(Buffer.concat([keys.recv, keys.send]), result.msk, `conversation ${i}: the NAS got this peer's MSK`);
    });
  });

  t.test('every Access-Challenge carries State; EAP identifiers go up by one per round', async (t) => {
    // 254 makes the identifiers wrap from 255 to 0 (RFC 3748 §4: one octet).
    const result = await run({ fragmentSize: 200, framedMtu: 300, firstEapIdentifier: 254 });
    t.equal(result.outcome, 'accept');
    t.ok(result.rounds >= 6, `a fragmented conversation has many rounds (${result.rounds})`);
    const challenges = result.exchanges.filter((exchange) => exchange.reply.code === PacketCode.AccessChallenge);
    t.equal(challenges.length, result.rounds - 1);
    for (const { reply } of challenges) {
      const state = getAttribute(reply, Attr.State);
      t.ok(state !== undefined && state.length > 0, `challenge ${reply.identifier} carries State`);
    }
    // Each request after the first echoes the State of the challenge before it.
    result.exchanges.slice(1).forEach((exchange, i) => {
      t.same(getAttribute(exchange.requestPacket, Attr.State), getAttribute(challenges[i]!.reply, Attr.State));
    });
    t.equal(getAttribute(result.exchanges[0]!.requestPacket, Attr.State), undefined, 'the first request has no State');

    const ids = result.challenges.map((eap) => eap.identifier);
    t.same(ids, ids.map((_, i) => (255 + i) & 0xff), `request identifiers ${ids.join(',')}`);
    // Each response carries the identifier of the request it answers.
    const responseIds = result.responses.map((eap) => eap.identifier);
    t.same(responseIds, [254, ...ids]);
    t.equal(result.finalEap?.identifier, ids.at(-1), 'EAP-Success has the identifier of the last request');
  });
});
