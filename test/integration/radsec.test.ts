/**
 * RadSec (RFC 6614) on real sockets on loopback, ports chosen at run time: EAP-TLS from the real
 * eapol_test through the real radsecproxy; peers refused during the handshake (no certificate,
 * unknown CA) or after it (not on the allow-list, revoked), and identified by subject CN, SAN
 * dNSName, SAN iPAddress or NAIRealm; Status-Server and accounting over TLS from a node:tls peer;
 * stream framing (packets coalesced, split byte by byte, cut at random, bad Length fields); a
 * CRL reload closing an open connection; the per-peer connection limit and the idle timeout.
 */
import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AcctStatusTypeValue,
  Attr,
  HEADER_LENGTH,
  PacketCode,
  decodePacket,
  encodeRequest,
  getAttributes,
  integerAttr,
  stringAttr,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import type { DevClientName } from '../../src/pki/dev-pki.ts';
import { checkReply } from '../support/bad-input-kit.ts';
import { AUTHENTICATIONS_TOTAL, TLS_VERSIONS, authenticate, expectAccept, tail, type Attempt, type Run } from '../support/eapol-checks.ts';
import { verifyAccessReply } from '../support/radius-client.ts';
import { RadsecTestClient, statusServer, type PeerFiles, type RadsecConnectOptions } from '../support/radsec-client.ts';
import { PeerCertificateAuthority } from '../support/radsec-pki.ts';
import { startRadsecproxy } from '../support/radsecproxy.ts';
import { startTestServer, testPki, testServerYaml, type TestServer, type TestServerOptions } from '../support/test-server.ts';

const pki = await testPki();
const ca = PeerCertificateAuthority.open(t, pki);

/** A dev PKI client certificate used as a RadSec peer certificate. */
const devPeer = (name: DevClientName): PeerFiles => ({ chain: pki.clients[name].cert, key: pki.clients[name].key });

/** The peer radsecproxy and most direct clients present: CN laptop-rsa.portcullis.test. */
const PROXY_PEER = devPeer('client-rsa');
/** The RFC 6614 §2.3 default secret, which the `proxy` peer keeps. */
const DEFAULT_SECRET = 'radsec';

const CONNECTIONS = 'portcullis_radsec_connections_total';
const OPEN = 'portcullis_radsec_connections_open';

/** A `radsec:` block: one listener on a port the OS picks, the dev CAs, `settings` and `peers` (YAML lines). */
function radsecYaml(peers: readonly string[], settings: readonly string[] = []): string {
  return [
    'radsec:',
    '  listen:',
    '    - address: 127.0.0.1',
    '      port: 0',
    `  trust_anchors: [${pki.caChain}]`,
    ...settings.map((line) => `  ${line}`),
    '  peers:',
    ...peers.map((peer) => `    - ${peer}`),
  ].join('\n');
}

/** One peer entry: `{ name, secret?, max_connections?, match }` on one line. */
function peer(name: string, match: string, extra = ''): string {
  return `{ name: ${name}, match: { ${match} }${extra === '' ? '' : `, ${extra}`} }`;
}

interface RadsecServer extends TestServer {
  readonly radsecPort: number;
  /** Connection options for a peer of this server. */
  connectOptions(peer: PeerFiles | undefined, maxVersion?: RadsecConnectOptions['maxVersion']): RadsecConnectOptions;
  /** Waits until `portcullis_radsec_connections_total{result}` reaches `value`; returns what it is then. */
  connectionsReach(result: string, value: number): Promise<number>;
  /** Sum over every label set of a counter. */
  total(name: string): Promise<number>;
}

async function startRadsecServer(t: Test, options: TestServerOptions & { radsecYaml: string }): Promise<RadsecServer> {
  const s = await startTestServer(t, options);
  const radsecPort = s.server.radsecAddresses[0]?.port;
  if (radsecPort === undefined) throw new Error('no RadSec listener');
  const total = async (name: string) => {
    const metric = s.server.metrics.registry.getSingleMetric(name);
    return metric === undefined ? 0 : (await metric.get()).values.reduce((sum, value) => sum + value.value, 0);
  };
  return {
    ...s,
    radsecPort,
    connectOptions: (peer, maxVersion) => ({ port: radsecPort, caCert: pki.root.cert, peer, ...(maxVersion === undefined ? {} : { maxVersion }) }),
    connectionsReach: async (result, value) => {
      // The server counts a refusal as it closes; the client may see the close first.
      const deadline = Date.now() + 10_000;
      let now = await s.metric(CONNECTIONS, { result });
      while (now < value && Date.now() < deadline) {
        await sleep(10);
        now = await s.metric(CONNECTIONS, { result });
      }
      return now;
    },
    total,
  };
}

/** The Status-Server reply verified as a strict NAS would, with the peer's secret. */
function verifiedStatusReply(request: Buffer, reply: Buffer, secret: string): RadiusPacket {
  const packet = verifyAccessReply(reply, { identifier: request.readUInt8(1), authenticator: request.subarray(4, HEADER_LENGTH) }, Buffer.from(secret));
  if (packet.code !== PacketCode.AccessAccept) throw new Error(`Status-Server answered with code ${packet.code}`);
  return packet;
}

/** The server most cases share: the `proxy` peer by subject CN, and the dev CRLs for peers. */
const shared = await startRadsecServer(t, {
  radsecYaml: radsecYaml([peer('proxy', 'subject_cn: [laptop-rsa.portcullis.test]')], [`crl_files: [${pki.intermediateCrl}, ${pki.rootCrl}]`]),
});
/** A direct peer of the shared server with the `proxy` certificate. */
const proxyOptions = shared.connectOptions(PROXY_PEER);

/**
 * The idle-timeout server, started first so that its 10 s (the least `idle_timeout_seconds`
 * allows) run while the other cases do: one connection of the `idle` peer, silent after one
 * Status-Server. The `limited` peer serves the connection-limit case.
 */
const IDLE_SECONDS = 10;
const limits = await startRadsecServer(t, {
  radsecYaml: radsecYaml(
    [peer('limited', 'subject_cn: [laptop-rsa.portcullis.test]', 'max_connections: 2'), peer('idle', 'subject_cn: [laptop-ec.portcullis.test]')],
    [`idle_timeout_seconds: ${IDLE_SECONDS}`],
  ),
});
const idleClient = await RadsecTestClient.connect(limits.connectOptions(devPeer('client-ec')));
t.teardown(() => idleClient.close());
const idleProbe = statusServer(1, DEFAULT_SECRET);
await idleClient.write(idleProbe);
verifiedStatusReply(idleProbe, await idleClient.nextReply(), DEFAULT_SECRET);
const idleSince = Date.now();
let idleClosedAt: number | undefined;
void idleClient.closed.then(() => (idleClosedAt ??= Date.now()));

/** The lines of the server log with `event`. */
function events(s: TestServer, event: string): Record<string, unknown>[] {
  return s.logs.filter((line) => line['event'] === event);
}

// -------------------------------------------------------------------------------------------------
// 1. eapol_test -> UDP -> radsecproxy -> RadSec -> portcullis

/**
 * eapol-checks' expectAccept, through the proxy: the decision line names the RadSec peer as the
 * client (checked here), where expectAccept expects the UDP test NAS.
 */
function expectAcceptViaProxy(t: Test, run: Run, wanted: Parameters<typeof expectAccept>[2]): void {
  t.same(
    run.decisions.map((decision) => decision['client']),
    Array.from({ length: wanted.count ?? 1 }, () => 'proxy'),
    'the decision line names the RadSec peer `proxy` as the client',
    run.why,
  );
  expectAccept(t, { ...run, decisions: run.decisions.map((decision) => ({ ...decision, client: 'test-nas' })) }, wanted);
}

/** RFC 5216 §3.1: the More-fragments flag of EAP-TLS. */
const MORE_FRAGMENTS = 0x40;

t.test('EAP-TLS from eapol_test through radsecproxy, one RadSec connection', async (t) => {
  const acceptedBefore = await shared.metric(CONNECTIONS, { result: 'accepted' });
  const proxy = await startRadsecproxy(t, { radsecPort: shared.radsecPort, caCert: pki.root.cert, peer: PROXY_PEER });
  // eapol_test talks UDP to radsecproxy, with radsecproxy's NAS secret.
  const viaProxy: TestServer = { ...shared, port: proxy.port, secret: proxy.secret };
  const through = async (attempt: Attempt): Promise<Run> => {
    const run = await authenticate(viaProxy, attempt);
    return { ...run, why: { eapol_test_tail: `${run.why.eapol_test_tail}\n--- radsecproxy ---\n${tail(proxy.output(), 30)}` } };
  };

  for (const tls of TLS_VERSIONS) {
    t.test(`${tls}, EC client of OU Staff, -e: Accept on VLAN 100, MPPE keys, EAP-Key-Name`, async (t) => {
      const run = await through({ client: 'client-ec', tls, args: ['-e'] });
      expectAcceptViaProxy(t, run, { rule: 'staff', vlan: 100, sessionTimeout: 3600, keyName: true });
      t.equal(run.result.keyNameMatched, 1, 'eapol_test: locally derived Session-Id matches EAP-Key-Name', run.why);
    });

    t.test(`${tls}, RSA client of OU Students, fragment_size=200 and Framed-MTU 300: fragments both ways`, async (t) => {
      const run = await through({ client: 'client-rsa', tls, networkLines: ['fragment_size=200'], args: ['-N12:d:300'] });
      expectAcceptViaProxy(t, run, { rule: 'students', vlan: 200 });
      const { result, why } = run;
      const fragmented = result.eapTlsRequests.filter((request) => (request.flags & MORE_FRAGMENTS) !== 0);
      t.ok(fragmented.length >= 3, `the server fragmented its flights (${fragmented.length} with M set)`, why);
      const longest = Math.max(...result.eapTlsRequests.map((request) => request.length));
      t.ok(longest <= 300, `every EAP-Request fits the Framed-MTU (longest ${longest})`, why);
      t.ok(result.clientFragmentsSent >= 3, `the supplicant fragmented and the server reassembled (${result.clientFragmentsSent})`, why);
    });
  }

  t.test('a revoked EAP client is rejected through the proxy', async (t) => {
    const labels = { outcome: 'reject', reason: 'certificate-revoked' };
    const before = await shared.metric(AUTHENTICATIONS_TOTAL, labels);
    const { result, decisions, why } = await through({ client: 'client-revoked', tls: 'TLSv1.3' });
    t.notOk(result.success, 'eapol_test reports FAILURE', why);
    t.equal(result.mppeOk, 0, 'no MPPE keys', why);
    t.equal(result.lastReplyCode, 'Access-Reject', 'last reply is an Access-Reject', why);
    t.equal(result.replyMessage, 'rejected: certificate-revoked', 'Reply-Message names the reason', why);
    t.notOk(result.lastReplyAttributes.has('Tunnel-Private-Group-Id'), 'no VLAN', why);
    t.equal(decisions.length, 1, 'one decision line', why);
    t.match(decisions[0], { outcome: 'reject', reason: 'certificate-revoked', client: 'proxy' }, 'decision: reject, certificate-revoked, client proxy', why);
    t.equal(await shared.metric(AUTHENTICATIONS_TOTAL, labels), before + 1, 'counted', why);
  });

  // Subtests run after this body: the connection is checked once all of them went through it.
  t.test('one RadSec connection carried all of it', async (t) => {
    t.equal(await shared.metric(CONNECTIONS, { result: 'accepted' }), acceptedBefore + 1, 'radsecproxy opened one RadSec connection for all of it');
    t.match(events(shared, 'radsec-connected').at(-1), { peer: 'proxy', address: '127.0.0.1' }, 'logged: radsec-connected, peer proxy');
  });
});

// -------------------------------------------------------------------------------------------------
// 2. Who may connect

/** Probes `options` and checks a refusal counted as `result`, with no packet read. */
async function expectRefused(t: Test, s: RadsecServer, options: RadsecConnectOptions, result: string, secret = DEFAULT_SECRET) {
  const before = await s.metric(CONNECTIONS, { result });
  const accepted = await s.metric(CONNECTIONS, { result: 'accepted' });
  const received = await s.total('portcullis_radius_packets_received_total');
  const outcome = await RadsecTestClient.probe(options, secret);
  t.equal(outcome.reply, undefined, 'no reply', { outcome });
  t.ok(outcome.closed, 'the server closed the connection', { outcome });
  t.equal(await s.connectionsReach(result, before + 1), before + 1, `${CONNECTIONS}{result="${result}"} + 1`);
  t.equal(await s.metric(CONNECTIONS, { result: 'accepted' }), accepted, 'not accepted');
  t.equal(await s.total('portcullis_radius_packets_received_total'), received, 'no packet read from it');
  return outcome;
}

t.test('peers refused during the handshake or right after it', async (t) => {
  t.test('no certificate, TLS 1.3: the server aborts the handshake with certificate_required', async (t) => {
    const outcome = await expectRefused(t, shared, shared.connectOptions(undefined, 'TLSv1.3'), 'tls-refused');
    t.equal(outcome.error, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'the client reads the alert', { outcome });
    t.match(events(shared, 'radsec-refused').at(-1), { reason: 'tls-refused', error: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }, 'logged');
  });
  t.test('no certificate, TLS 1.2: the handshake fails', async (t) => {
    const outcome = await expectRefused(t, shared, shared.connectOptions(undefined, 'TLSv1.2'), 'tls-refused');
    t.notOk(outcome.handshake, 'no handshake', { outcome });
  });
  // Node verifies the chain once OpenSSL has finished the handshake, then destroys the socket:
  // the error the listener sees is a reset, so it logs the verification error instead.
  for (const { name, client, verifyError } of [
    { name: 'a certificate of an unknown CA (dev client-unknown-ca)', client: 'client-unknown-ca', verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { name: 'an expired certificate (dev client-expired)', client: 'client-expired', verifyError: 'CERT_HAS_EXPIRED' },
  ] as const) {
    t.test(name, async (t) => {
      await expectRefused(t, shared, shared.connectOptions(devPeer(client)), 'tls-refused');
      const logged = events(shared, 'radsec-refused').at(-1);
      t.match(logged, { reason: 'tls-refused' }, 'logged: radsec-refused, tls-refused');
      t.match(logged, { error: verifyError }, `the log line names the verification error ${verifyError}`);
    });
  }
  t.test('a valid certificate not on the allow-list (dev client-ec): unknown-peer', async (t) => {
    await expectRefused(t, shared, shared.connectOptions(devPeer('client-ec')), 'unknown-peer');
    t.match(events(shared, 'radsec-refused').at(-1), { reason: 'unknown-peer', detail: /laptop-ec\.portcullis\.test/ }, 'logged with the subject');
  });
  t.test('a certificate on the RadSec CRL (dev client-revoked): certificate-revoked', async (t) => {
    await expectRefused(t, shared, shared.connectOptions(devPeer('client-revoked')), 'certificate-revoked');
  });
});

t.test('peers identified by SAN dNSName, SAN iPAddress and NAIRealm (certificates from openssl ca)', async (t) => {
  const sanPeer = ca.issue('proxy-san', { subject: '/O=Portcullis Test/CN=proxy-san', subjectAltName: 'DNS:proxy.example.test,IP:127.0.0.1' });
  const naiPeer = ca.issue('proxy-nai', { subject: '/O=Portcullis Test/CN=proxy-nai', subjectAltName: 'otherName:1.3.6.1.5.5.7.8.8;UTF8:example.org' });
  // dNSName and NAIRealm compare in any case (RFC 4343): the entries are written in mixed case.
  const cases = [
    { by: 'san_dns', match: 'san_dns: [PROXY.Example.TEST]', cert: sanPeer, other: naiPeer },
    { by: 'san_ip', match: "san_ip: ['127.0.0.1']", cert: sanPeer, other: naiPeer },
    { by: 'nai_realm', match: 'nai_realm: [Example.ORG]', cert: naiPeer, other: sanPeer },
  ] as const;
  for (const { by, match, cert, other } of cases) {
    t.test(match, async (t) => {
      const name = `by-${by.replace('_', '-')}`;
      const secret = `${name}-secret`;
      // The peer's only criterion is `match`, and its own secret: the answer proves which entry matched.
      const s = await startRadsecServer(t, { radsecYaml: radsecYaml([peer(name, match, `secret: ${secret}`)]) });
      const outcome = await RadsecTestClient.probe(s.connectOptions(cert), secret);
      t.doesNotThrow(() => verifiedStatusReply(outcome.request, outcome.reply ?? Buffer.alloc(0), secret), `Status-Server answered with the secret of ${name}`);
      t.match(events(s, 'radsec-connected'), [{ peer: name }], `logged: radsec-connected, peer ${name}`);
      await expectRefused(t, s, s.connectOptions(other), 'unknown-peer');
    });
  }
});

// -------------------------------------------------------------------------------------------------
// 3. A direct peer: Status-Server, accounting and stream framing (RFC 6614 §2.1)

/** An Accounting-Request Start of session `sessionId`, signed with the `proxy` secret. */
function accountingStart(identifier: number, sessionId: string): Buffer {
  return encodeRequest({
    code: PacketCode.AccountingRequest,
    identifier,
    attributes: [
      integerAttr(Attr.AcctStatusType, AcctStatusTypeValue.Start),
      stringAttr(Attr.AcctSessionId, sessionId),
      stringAttr(Attr.UserName, `user-${sessionId}`),
      stringAttr(Attr.NasIdentifier, 'ap-radsec'),
    ],
    secret: Buffer.from(DEFAULT_SECRET),
  });
}

/** Checks an Accounting-Response to `request` (RFC 2866 §3, Message-Authenticator keyed on zeros). */
function verifiedAccountingReply(request: Buffer, reply: Buffer): RadiusPacket {
  const decoded = decodePacket(reply);
  if (!decoded.ok) throw new Error(`reply does not decode: ${decoded.reason}`);
  const packet = decoded.packet;
  const requestAuthenticator = request.subarray(4, HEADER_LENGTH);
  const secret = Buffer.from(DEFAULT_SECRET);
  if (packet.code !== PacketCode.AccountingResponse) throw new Error(`reply code ${packet.code}`);
  if (packet.identifier !== request.readUInt8(1)) throw new Error(`reply identifier ${packet.identifier}`);
  if (!verifyResponseAuthenticator(packet, requestAuthenticator, secret)) throw new Error('bad Response Authenticator');
  const mac = verifyMessageAuthenticator(packet, secret, requestAuthenticator, PacketCode.AccountingRequest);
  if (mac !== 'ok') throw new Error(`Message-Authenticator ${mac}`);
  return packet;
}

/** Checks each reply against the request with its Identifier; every request must be answered once. */
function expectAnswered(t: Test, requests: readonly Buffer[], replies: readonly Buffer[]): void {
  t.equal(replies.length, requests.length, `${requests.length} replies`);
  const byIdentifier = new Map(replies.map((reply) => [reply.readUInt8(1), reply]));
  t.equal(byIdentifier.size, replies.length, 'one reply per Identifier');
  for (const request of requests) {
    const reply = byIdentifier.get(request.readUInt8(1)) ?? Buffer.alloc(0);
    const verify = request[0] === PacketCode.AccountingRequest ? () => verifiedAccountingReply(request, reply) : () => verifiedStatusReply(request, reply, DEFAULT_SECRET);
    t.doesNotThrow(verify, `request ${request.readUInt8(1)} (code ${request[0]}) answered and the reply verifies`);
  }
}

/** A connection of the `proxy` peer to the shared server, closed on teardown. */
async function proxyConnection(t: Test): Promise<RadsecTestClient> {
  const client = await RadsecTestClient.connect(proxyOptions);
  t.teardown(() => client.close());
  return client;
}

t.test('a direct peer: Status-Server, accounting, and any cut of the stream', async (t) => {
  t.test('Status-Server is answered with Access-Accept; a wrong secret is dropped and the connection stays', async (t) => {
    const client = await proxyConnection(t);
    const before = await shared.metric('portcullis_status_server_total', { port: 'auth' });
    const badBefore = await shared.metric('portcullis_radius_packets_dropped_total', { reason: 'bad-message-authenticator' });
    await client.write(statusServer(1, 'not-the-secret'));
    const request = statusServer(2, DEFAULT_SECRET);
    await client.write(request);
    const reply = checkReply(t, request, await client.nextReply(), PacketCode.AccessAccept, DEFAULT_SECRET);
    t.same(reply?.attributes.map((attribute) => attribute.type), [Attr.MessageAuthenticator], 'nothing but the Message-Authenticator');
    t.equal(await shared.metric('portcullis_status_server_total', { port: 'auth' }), before + 1, 'counted as a Status-Server on auth');
    t.equal(await shared.metric('portcullis_radius_packets_dropped_total', { reason: 'bad-message-authenticator' }), badBefore + 1, 'the wrong secret dropped');
    t.equal(client.queued, 0, 'and not answered');
  });

  t.test('an Accounting-Request Start is answered with Accounting-Response and stored, client proxy', async (t) => {
    const client = await proxyConnection(t);
    const request = accountingStart(3, 'radsec-s1');
    await client.write(request);
    const reply = await client.nextReply();
    t.doesNotThrow(() => verifiedAccountingReply(request, reply), 'a valid Accounting-Response');
    const stored = await shared.server.accountingStore.activeSessions({ userName: 'user-radsec-s1' });
    t.match(stored, [{ client: 'proxy', sessionId: 'radsec-s1', nasIdentifier: 'ap-radsec' }], 'the session is stored under the peer');
  });

  t.test('five packets in one write: five replies', async (t) => {
    const client = await proxyConnection(t);
    const requests = [10, 11, 12, 13].map((id) => statusServer(id, DEFAULT_SECRET));
    requests.push(accountingStart(14, 'radsec-s2'));
    await client.write(Buffer.concat(requests));
    expectAnswered(t, requests, await client.replies(requests.length));
    t.equal((await shared.server.accountingStore.activeSessions({ userName: 'user-radsec-s2' })).length, 1, 'the Start is stored');
  });

  t.test('two packets written one byte at a time: both answered', async (t) => {
    const client = await proxyConnection(t);
    const requests = [statusServer(20, DEFAULT_SECRET), accountingStart(21, 'radsec-s3')];
    const stream = Buffer.concat(requests);
    for (let i = 0; i < stream.length; i++) await client.write(stream.subarray(i, i + 1));
    expectAnswered(t, requests, await client.replies(requests.length));
  });

  for (const { length, reason } of [
    { length: 5, reason: 'stream-length-too-small' },
    { length: 5000, reason: 'stream-length-too-large' },
  ]) {
    t.test(`a Length field of ${length}: the connection is closed, ${reason} counted`, async (t) => {
      const client = await proxyConnection(t);
      const before = await shared.metric('portcullis_radius_packets_dropped_total', { reason });
      const answered = statusServer(30, DEFAULT_SECRET);
      await client.write(answered);
      const reply = await client.nextReply();
      t.doesNotThrow(() => verifiedStatusReply(answered, reply, DEFAULT_SECRET), 'a packet before it is answered');
      // A Status-Server header whose Length cannot be (RFC 2865 §3: 20..4096).
      const bad = Buffer.alloc(HEADER_LENGTH);
      bad.writeUInt8(PacketCode.StatusServer, 0);
      bad.writeUInt8(31, 1);
      bad.writeUInt16BE(length, 2);
      await client.write(bad);
      t.ok(await client.closedWithin(), 'the server closes the connection');
      t.equal(client.queued, 0, 'no reply');
      t.equal(await shared.metric('portcullis_radius_packets_dropped_total', { reason }), before + 1, `${reason} + 1`);
    });
  }
});

// -------------------------------------------------------------------------------------------------
// 4. A peer revoked by a reload

t.test('a reload with a CRL that lists an open peer closes its connection and refuses it after', async (t) => {
  const revocable = ca.issue('revocable', { subject: '/O=Portcullis Test/CN=revocable', subjectAltName: 'DNS:revocable.example.test' });
  const peers = [peer('revocable', 'san_dns: [revocable.example.test]', 'secret: revocable-secret'), peer('proxy', 'subject_cn: [laptop-rsa.portcullis.test]')];
  const options = { radsecYaml: radsecYaml(peers) };
  const s = await startRadsecServer(t, options);
  const exchange = async (client: RadsecTestClient, secret: string, identifier: number): Promise<void> => {
    const request = statusServer(identifier, secret);
    await client.write(request);
    const reply = await client.nextReply();
    t.doesNotThrow(() => verifiedStatusReply(request, reply, secret), `Status-Server ${identifier} answered`);
  };
  const doomed = await RadsecTestClient.connect(s.connectOptions(revocable));
  t.teardown(() => doomed.close());
  const kept = await RadsecTestClient.connect(s.connectOptions(PROXY_PEER));
  t.teardown(() => kept.close());
  await exchange(doomed, 'revocable-secret', 1);
  await exchange(kept, DEFAULT_SECRET, 2);
  t.equal(await s.metric(OPEN), 2, `${OPEN} 2`);

  ca.revoke(revocable.leaf);
  const crl = ca.writeCrl('revocable');
  const reloads = await s.metric('portcullis_config_reloads_total', { result: 'success' });
  const yaml = testServerYaml(pki, { ...options, radsecYaml: radsecYaml(peers, [`crl_files: [${crl}]`]) });
  await s.server.reload(() => Promise.resolve(parseConfig(yaml, 'radsec-reload.yaml')));
  t.equal(await s.metric('portcullis_config_reloads_total', { result: 'success' }), reloads + 1, 'the reload succeeded');
  t.notOk(
    s.logs.some((line) => String(line['msg']).startsWith('RadSec listeners')),
    'no restart warning: CRLs take effect at once',
  );

  t.ok(await doomed.closedWithin(), 'the revoked peer’s open connection is closed');
  t.match(events(s, 'radsec-closed'), [{ peer: 'revocable', reason: 'certificate-revoked' }], 'logged: radsec-closed, certificate-revoked');
  t.notOk(kept.isClosed, 'the other peer’s connection stays open');
  await exchange(kept, DEFAULT_SECRET, 3);
  t.equal(await s.metric(OPEN), 1, `${OPEN} 1`);

  await expectRefused(t, s, s.connectOptions(revocable), 'certificate-revoked', 'revocable-secret');
});

// -------------------------------------------------------------------------------------------------
// 5. Connection limit and idle timeout

t.test('max_connections 2: the third concurrent connection of a peer is refused, a later one accepted', async (t) => {
  const options = limits.connectOptions(PROXY_PEER);
  const open: RadsecTestClient[] = [];
  t.teardown(() => Promise.all(open.map((client) => client.close())));
  for (const identifier of [1, 2]) {
    const client = await RadsecTestClient.connect(options);
    open.push(client);
    const request = statusServer(identifier, DEFAULT_SECRET);
    await client.write(request);
    const reply = await client.nextReply();
    t.doesNotThrow(() => verifiedStatusReply(request, reply, DEFAULT_SECRET), `connection ${identifier} answered`);
  }
  // The `idle` peer's connection (open until its timeout) does not count: the limit is per peer.
  const idleOpen = idleClient.isClosed ? 0 : 1;
  t.equal(await limits.metric(OPEN), 2 + idleOpen, `${OPEN} ${2 + idleOpen} (two limited, ${idleOpen} idle)`);
  await expectRefused(t, limits, options, 'connection-limit');
  t.match(events(limits, 'radsec-refused').at(-1), { reason: 'connection-limit', peer: 'limited' }, 'logged');

  await open.shift()?.close();
  const deadline = Date.now() + 10_000;
  while ((await limits.metric(OPEN)) > 2 && Date.now() < deadline) await sleep(10);
  const again = await RadsecTestClient.probe(options, DEFAULT_SECRET);
  t.doesNotThrow(() => verifiedStatusReply(again.request, again.reply ?? Buffer.alloc(0), DEFAULT_SECRET), 'once one is closed, a new one is answered');
});

// -------------------------------------------------------------------------------------------------
// 6. Framing fuzz over a real TLS socket

/** 20 Status-Servers, each with a Proxy-State of its own length (0..133 octets), so packet sizes vary. */
function statusStream(): Buffer[] {
  return Array.from({ length: 20 }, (_, i) =>
    encodeRequest({
      code: PacketCode.StatusServer,
      identifier: 100 + i,
      attributes: i === 0 ? [] : [{ type: Attr.ProxyState, value: Buffer.alloc(i * 7, i) }],
      secret: Buffer.from(DEFAULT_SECRET),
    }),
  );
}

t.test('20 Status-Servers cut at random boundaries, one write per piece: 20 replies, Proxy-State echoed', async (t) => {
  const requests = statusStream();
  const stream = Buffer.concat(requests);
  const droppedBefore = await shared.total('portcullis_radius_packets_dropped_total');
  const cuts = fc
    .uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { minLength: 1, maxLength: 150, size: 'max' })
    .map((points) => [...points].sort((a, b) => a - b));
  let runs = 0;
  let pieces = 0;
  await fc.assert(
    fc.asyncProperty(cuts, async (points) => {
      runs += 1;
      const client = await RadsecTestClient.connect(proxyOptions);
      try {
        const bounds = [0, ...points, stream.length];
        pieces += bounds.length - 1;
        for (let i = 0; i + 1 < bounds.length; i++) await client.write(stream.subarray(bounds[i], bounds[i + 1]));
        const replies = await client.replies(requests.length);
        const byIdentifier = new Map(replies.map((reply) => [reply.readUInt8(1), reply]));
        for (const request of requests) {
          const reply = verifiedStatusReply(request, byIdentifier.get(request.readUInt8(1)) ?? Buffer.alloc(0), DEFAULT_SECRET);
          const sent = decodePacket(request);
          if (!sent.ok) throw new Error('request does not decode');
          if (!Buffer.concat(getAttributes(reply, Attr.ProxyState)).equals(Buffer.concat(getAttributes(sent.packet, Attr.ProxyState)))) {
            throw new Error(`request ${request.readUInt8(1)}: Proxy-State not echoed`);
          }
        }
      } finally {
        await client.close();
      }
    }),
    { seed: 6614, numRuns: 12, endOnFailure: true },
  );
  t.equal(runs, 12, `every run answered all 20 (the property held; ${pieces} pieces of ${stream.length} octets in all)`);
  t.equal(await shared.total('portcullis_radius_packets_dropped_total'), droppedBefore, 'nothing dropped');
});

// -------------------------------------------------------------------------------------------------
// 5 (end). The idle connection opened at the start

t.test(`idle_timeout_seconds ${IDLE_SECONDS}: a silent connection is closed by the server`, async (t) => {
  const limit = IDLE_SECONDS * 1000;
  t.ok(await idleClient.closedWithin(Math.max(0, idleSince + limit + 3_000 - Date.now())), 'closed');
  const after = (idleClosedAt ?? Number.NaN) - idleSince;
  t.ok(after >= limit - 100 && after < limit + 3_000, `after ${after} ms of silence (timeout ${limit} ms)`);
  const deadline = Date.now() + 10_000;
  while ((await limits.metric(OPEN)) > 0 && Date.now() < deadline) await sleep(10);
  t.equal(await limits.metric(OPEN), 0, `${OPEN} 0`);
});
