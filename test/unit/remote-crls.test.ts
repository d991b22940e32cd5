import t, { type Test } from 'tap';
import * as asn1X509 from '@peculiar/asn1-x509';
import { X509Certificate, webcrypto } from 'node:crypto';
import { createServer } from 'node:net';
import { x509 } from '../../src/pki/x509.ts';
import {
  crlDistributionPoints,
  RemoteCrls,
  type RemoteCrlEvent,
  type RemoteCrlSettings,
  type RemoteCrlStatus,
} from '../../src/policy/remote-crls.ts';
import { CrlServer } from '../support/crl-server.ts';

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// A PKI made in-process

interface Ca {
  readonly cert: X509Certificate;
  readonly name: x509.Name;
  readonly key: webcrypto.CryptoKey;
}

const generateKeys = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

/** A self-signed CA named `cn`; `keys` given to re-issue a CA with the same key. */
async function makeCa(cn: string, serialNumber: string, keys?: webcrypto.CryptoKeyPair): Promise<Ca> {
  const pair = keys ?? (await generateKeys());
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: `O=Portcullis Test, CN=${cn}`,
    notBefore: new Date(Date.now() - HOUR_MS),
    notAfter: new Date(Date.now() + 24 * HOUR_MS),
    keys: pair,
    signingAlgorithm: ECDSA,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { cert: new X509Certificate(Buffer.from(cert.rawData)), name: cert.subjectName, key: pair.privateKey };
}

/** A leaf issued by `ca` with the given extensions. */
async function makeLeaf(ca: Ca, serialNumber: string, extensions: x509.Extension[]): Promise<X509Certificate> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: `CN=leaf-${serialNumber}`,
    issuer: ca.name,
    notBefore: new Date(Date.now() - HOUR_MS),
    notAfter: new Date(Date.now() + 24 * HOUR_MS),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ECDSA,
    extensions,
  });
  return new X509Certificate(Buffer.from(cert.rawData));
}

interface CrlOptions {
  readonly revoked?: readonly string[];
  readonly thisUpdate?: Date;
  /** Default an hour after thisUpdate; null for none. */
  readonly nextUpdate?: Date | null;
  readonly extensions?: x509.Extension[];
}

/** A DER CRL naming `issuer`, signed with `key`. */
async function makeCrl(issuer: x509.Name, key: webcrypto.CryptoKey, options: CrlOptions = {}): Promise<Buffer> {
  const thisUpdate = options.thisUpdate ?? new Date(Date.now() - 60_000);
  const nextUpdate = options.nextUpdate === null ? undefined : (options.nextUpdate ?? new Date(thisUpdate.getTime() + HOUR_MS));
  const crl = await x509.X509CrlGenerator.create({
    issuer,
    thisUpdate,
    ...(nextUpdate === undefined ? {} : { nextUpdate }),
    signingKey: key,
    signingAlgorithm: ECDSA,
    entries: (options.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
    ...(options.extensions === undefined ? {} : { extensions: options.extensions }),
  });
  return Buffer.from(crl.rawData);
}

const caKeys = await generateKeys();
const ca = await makeCa('Remote CRL Test CA', '01', caKeys);
/** The same CA re-issued: same name, same key, another certificate. */
const reissued = await makeCa('Remote CRL Test CA', '02', caKeys);
/** Same name, another key. */
const impostor = await makeCa('Remote CRL Test CA', '03');
const other = await makeCa('Other CA', '04');

const REVOKED = '0badcafe';
const GOOD = '0c0ffee0';
const crlOf = (options: CrlOptions = {}): Promise<Buffer> => makeCrl(ca.name, ca.key, options);
const freshCrl = await crlOf({ revoked: [REVOKED] });

// ---------------------------------------------------------------------------------------------
// The publisher and the component under test

const server = await CrlServer.start();
t.teardown(() => server.close());

let paths = 0;
/** A path of its own on the publisher, serving `body` when given. */
function route(body?: Buffer): { path: string; url: string } {
  const path = `/crl-${++paths}.crl`;
  if (body !== undefined) server.set(path, { mode: 'serve', body });
  return { path, url: server.url(path) };
}

const SETTINGS: RemoteCrlSettings = {
  timeoutMs: 1000,
  maxBytes: 64 * 1024,
  refreshMarginMs: 1000,
  maxAgeMs: 60_000,
  failureCooldownMs: 60_000,
  maxUrls: 16,
};

/** A RemoteCrls closed at the end of the test, recording its events. */
function remote(t: Test, settings: Partial<RemoteCrlSettings> = {}): { crls: RemoteCrls; events: RemoteCrlEvent[]; next: (kind: RemoteCrlEvent['kind']) => Promise<RemoteCrlEvent> } {
  const events: RemoteCrlEvent[] = [];
  const waiting: { kind: RemoteCrlEvent['kind']; resolve: (event: RemoteCrlEvent) => void }[] = [];
  const crls = new RemoteCrls({ ...SETTINGS, ...settings }, {
    now: () => Date.now(),
    onEvent: (event) => {
      events.push(event);
      const index = waiting.findIndex((w) => w.kind === event.kind);
      if (index >= 0) waiting.splice(index, 1)[0]?.resolve(event);
    },
  });
  t.teardown(() => crls.close());
  /** The next event of that kind. */
  const next = (kind: RemoteCrlEvent['kind']): Promise<RemoteCrlEvent> => new Promise((resolve) => waiting.push({ kind, resolve }));
  return { crls, events, next };
}

const unavailable = (status: RemoteCrlStatus): { reason: string; detail: string } | undefined =>
  status.status === 'unavailable' ? { reason: status.reason, detail: status.detail } : undefined;

/** A URL on a port nobody listens on. */
async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}/gone.crl`;
}

// ---------------------------------------------------------------------------------------------
// crlDistributionPoints

t.test('crlDistributionPoints: the http(s) full names, in order, once each', async (t) => {
  const point = (uris: string[], extra: Partial<asn1X509.DistributionPoint> = {}): asn1X509.DistributionPoint =>
    new asn1X509.DistributionPoint({
      distributionPoint: new asn1X509.DistributionPointName({ fullName: uris.map((uri) => new asn1X509.GeneralName({ uniformResourceIdentifier: uri })) }),
      ...extra,
    });
  const leaf = await makeLeaf(ca, '10', [
    new x509.CRLDistributionPointsExtension([
      point(['ldap://directory.example/cn=CA?certificateRevocationList', 'http://crl.example/ca.crl']),
      point(['https://crl.example/ca.crl', 'http://crl.example/ca.crl']),
      // RFC 5280 §4.2.1.13: a partial CRL (reasons) and an indirect one (cRLIssuer) are not used.
      point(['http://crl.example/key-compromise.crl'], { reasons: new asn1X509.Reason(asn1X509.ReasonFlags.keyCompromise) }),
      point(['http://crl.example/indirect.crl'], { cRLIssuer: [new asn1X509.GeneralName({ uniformResourceIdentifier: 'urn:other-issuer' })] }),
      new asn1X509.DistributionPoint({ cRLIssuer: [new asn1X509.GeneralName({ uniformResourceIdentifier: 'urn:name-only' })] }),
    ]),
  ]);
  t.same(crlDistributionPoints(leaf), ['http://crl.example/ca.crl', 'https://crl.example/ca.crl']);
  const simple = await makeLeaf(ca, '11', [new x509.CRLDistributionPointsExtension(['http://crl.example/simple.crl'])]);
  t.same(crlDistributionPoints(simple), ['http://crl.example/simple.crl']);
  t.same(crlDistributionPoints(await makeLeaf(ca, '12', [])), [], 'no extension: no URL');
});

// ---------------------------------------------------------------------------------------------
// Answers from a good CRL

t.test('status: a fresh CRL answers revoked / not revoked, then from memory', async (t) => {
  const { path, url } = route(freshCrl);
  const { crls, events } = remote(t);
  const first = await crls.status([url], ca.cert, GOOD);
  t.match(first, { status: 'not-revoked', url, stale: false, cached: false, nextUpdate: Date });
  t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked', url, stale: false, cached: true });
  t.match(await crls.status([url], ca.cert, '00:0B:AD:CA:FE'), { status: 'revoked' }, 'serial normalised');
  t.equal(server.requests(path), 1, 'fetched once');
  t.match(events, [{ kind: 'fetched', url, revoked: 1, ms: Number }]);
  t.equal(events.length, 1);
  t.match(crls.crls, [{ source: url, issuerFingerprint: ca.cert.fingerprint256, revoked: new Set(['BADCAFE']) }]);
  t.match(await crls.status([url], reissued.cert, REVOKED), { status: 'revoked' }, 'the CA re-issued with the same key verifies it too');
  t.match(unavailable(await crls.status([url], impostor.cert, REVOKED)), { reason: 'bad-signature' }, 'a CA of that name with another key does not');
  t.match(unavailable(await crls.status([url], other.cert, REVOKED)), { reason: 'wrong-issuer' });
  t.equal(server.requests(path), 1, 'checking other CAs against the held CRL fetches nothing');
});

t.test('status: concurrent first lookups share one fetch', async (t) => {
  const { path, url } = route();
  server.set(path, { mode: 'slow', body: freshCrl, delayMs: 200 });
  const { crls } = remote(t);
  const answers = await Promise.all([GOOD, REVOKED, GOOD, REVOKED, GOOD].map((serial) => crls.status([url], ca.cert, serial)));
  t.same(
    answers.map((answer) => answer.status),
    ['not-revoked', 'revoked', 'not-revoked', 'revoked', 'not-revoked'],
  );
  t.ok(answers.every((answer) => answer.status !== 'unavailable' && !answer.cached), 'all waited for the fetch');
  t.equal(server.requests(path), 1);
});

t.test('status: PEM bodies, and a CRL without nextUpdate', async (t) => {
  const pem = Buffer.from(`${x509.PemConverter.encode(freshCrl, 'X509 CRL')}\n`);
  const { url } = route(pem);
  const { url: bare } = route(await crlOf({ revoked: [REVOKED], nextUpdate: null }));
  const { crls } = remote(t);
  t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked' }, 'PEM');
  t.match(await crls.status([bare], ca.cert, REVOKED), { status: 'revoked', nextUpdate: undefined, stale: false });
});

t.test('status: a CRL past its nextUpdate answers stale', async (t) => {
  const { path, url } = route(await crlOf({ thisUpdate: new Date(Date.now() - 2 * HOUR_MS), nextUpdate: new Date(Date.now() - HOUR_MS) }));
  const { crls, events } = remote(t);
  t.match(await crls.status([url], ca.cert, GOOD), { status: 'not-revoked', stale: true, cached: false });
  t.match(await crls.status([url], ca.cert, GOOD), { status: 'not-revoked', stale: true, cached: true }, 'within the cooldown: not fetched again');
  t.equal(server.requests(path), 1);
  t.match(events, [{ kind: 'fetched', url }, { kind: 'stale', url, nextUpdate: Date }], 'stale reported once');
  t.equal(events.length, 2);
});

t.test('status: a stale CRL is refetched on demand after the cooldown', async (t) => {
  const { path, url } = route(await crlOf({ thisUpdate: new Date(Date.now() - 2 * HOUR_MS), nextUpdate: new Date(Date.now() - HOUR_MS) }));
  const { crls } = remote(t, { failureCooldownMs: 100 });
  t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked', stale: true });
  server.set(path, { mode: 'serve', body: freshCrl });
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked', stale: false, cached: false });
  t.equal(server.requests(path), 2);
});

// ---------------------------------------------------------------------------------------------
// CRLs that are not used

t.test('status: CRLs that cannot be trusted are not used', async (t) => {
  const { crls, events } = remote(t);
  const cases: [string, Buffer, string, RegExp][] = [
    ['right name, wrong key', await makeCrl(ca.name, impostor.key, { revoked: [REVOKED] }), 'bad-signature', /does not verify with the key of "O=Portcullis Test, CN=Remote CRL Test CA"/],
    ['another CA', await makeCrl(other.name, other.key, { revoked: [REVOKED] }), 'wrong-issuer', /^CRL issuer "O=Portcullis Test, CN=Other CA" is not the certificate's issuer$/],
    ['garbage', Buffer.from('not a CRL'), 'unparseable', /^not a CRL$/],
    ['a certificate', Buffer.from(ca.cert.raw), 'unparseable', /^not a CRL$/],
    ['empty', Buffer.alloc(0), 'unparseable', /^not a CRL$/],
    ['two CRLs', Buffer.from(`${x509.PemConverter.encode([freshCrl, freshCrl], 'X509 CRL')}\n`), 'unparseable', /holds 2 CRLs/],
    // RFC 5280 §5.2.4: a delta CRL (critical deltaCRLIndicator) is not a complete CRL.
    ['a delta CRL', await crlOf({ extensions: [new x509.Extension('2.5.29.27', true, Buffer.from([0x02, 0x01, 0x01]))] }), 'unparseable', /critical extension 2\.5\.29\.27 is not supported/],
  ];
  for (const [what, body, reason, detail] of cases) {
    const { url } = route(body);
    const answer = await crls.status([url], ca.cert, REVOKED);
    t.match(answer, { status: 'unavailable', url, reason }, what);
    t.match(unavailable(answer)?.detail, detail, what);
    t.match(events.at(-1), { kind: 'fetch-failed', url, reason }, what);
  }
  t.same(crls.crls, [], 'none held');
});

t.test('status: download failures', async (t) => {
  const { crls } = remote(t, { timeoutMs: 200, maxBytes: 1000 });
  const big = await crlOf({ revoked: Array.from({ length: 100 }, (_, i) => (0x1000 + i).toString(16)) });
  t.ok(big.length > 1000);
  const cases: [string, { url: string }, string, RegExp][] = [
    ['500', route(), 'http-error', /^HTTP 500$/],
    ['404', route(), 'http-error', /^HTTP 404$/],
    ['connection cut', route(), 'network', /./],
    ['headers late', route(), 'timeout', /within 200 ms/],
    ['body late', route(), 'timeout', /within 200 ms/],
    ['Content-Length too large', route(big), 'too-large', /^Content-Length \d+ exceeds 1000 bytes$/],
    ['chunked body too large', route(), 'too-large', /^body exceeds 1000 bytes$/],
    ['closed port', { url: await closedPortUrl() }, 'network', /ECONNREFUSED/],
  ];
  const pathOf = (url: string): string => new URL(url).pathname;
  server.set(pathOf(cases[0]![1].url), { mode: 'status', status: 500 });
  server.set(pathOf(cases[2]![1].url), { mode: 'drop' });
  server.set(pathOf(cases[3]![1].url), { mode: 'slow', body: freshCrl, delayMs: 2000 });
  server.set(pathOf(cases[4]![1].url), { mode: 'slow', body: freshCrl, delayMs: 2000, headersFirst: true });
  server.set(pathOf(cases[6]![1].url), { mode: 'serve', body: big, chunked: true });
  for (const [what, { url }, reason, detail] of cases) {
    const answer = await crls.status([url], ca.cert, REVOKED);
    t.match(answer, { status: 'unavailable', url, reason }, what);
    t.match(unavailable(answer)?.detail, detail, what);
  }
});

t.test('status: no new request within the cooldown after a failure', async (t) => {
  const { path, url } = route();
  server.set(path, { mode: 'status', status: 503 });
  const { crls } = remote(t, { failureCooldownMs: 300 });
  t.match(unavailable(await crls.status([url], ca.cert, GOOD)), { reason: 'http-error' });
  server.set(path, { mode: 'serve', body: freshCrl });
  const cooling = unavailable(await crls.status([url], ca.cert, GOOD));
  t.equal(cooling?.reason, 'cooldown');
  t.match(cooling?.detail, /^the last fetch failed \(http-error: HTTP 503\); no new fetch before /);
  t.equal(server.requests(path), 1, 'not asked again');
  await new Promise((resolve) => setTimeout(resolve, 350));
  t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked', cached: false }, 'after the cooldown');
  t.equal(server.requests(path), 2);
});

t.test('status: the first URL that yields a CRL answers; otherwise the first failure', async (t) => {
  const { path: failing, url: first } = route();
  server.set(failing, { mode: 'status', status: 500 });
  const { url: second } = route(freshCrl);
  const { url: foreign } = route(await makeCrl(other.name, other.key));
  const { crls } = remote(t);
  t.match(await crls.status(['ldap://directory.example/crl', first, second], ca.cert, REVOKED), { status: 'revoked', url: second });
  t.match(await crls.status([first, foreign], ca.cert, REVOKED), { status: 'unavailable', url: first, reason: 'cooldown' });
  t.match(await crls.status([], ca.cert, REVOKED), { status: 'unavailable', url: undefined, reason: 'no-url' });
  t.match(await crls.status(['ldap://directory.example/crl'], ca.cert, REVOKED), { status: 'unavailable', reason: 'no-url' });
});

t.test('maxUrls: the least recently used URL is forgotten', async (t) => {
  const urls = [route(freshCrl), route(freshCrl), route(freshCrl)];
  const { crls } = remote(t, { maxUrls: 2 });
  for (const { url } of urls) await crls.status([url], ca.cert, GOOD);
  t.same(crls.crls.map((crl) => crl.source), [urls[1]!.url, urls[2]!.url]);
  await crls.status([urls[1]!.url], ca.cert, GOOD);
  await crls.status([urls[0]!.url], ca.cert, GOOD);
  t.same(crls.crls.map((crl) => crl.source), [urls[1]!.url, urls[0]!.url]);
  t.equal(server.requests(urls[0]!.path), 2, 'a forgotten URL is fetched again');
  t.equal(server.requests(urls[1]!.path), 1);
});

// ---------------------------------------------------------------------------------------------
// Background refresh (real timers; run side by side)

/** A CRL whose nextUpdate is `aheadMs` from now, on a whole second (CRL times have no fraction). */
const expiringSoon = (aheadMs: number, options: CrlOptions = {}): Promise<Buffer> =>
  crlOf({ ...options, nextUpdate: new Date(Math.ceil((Date.now() + aheadMs) / 1000) * 1000) });

t.test('refresh', { jobs: 4 }, async (t) => {
  t.test('a new CRL replaces the held one before nextUpdate', async (t) => {
    const { path, url } = route(await expiringSoon(2000));
    const { crls, next } = remote(t);
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked' });
    server.set(path, { mode: 'serve', body: await crlOf({ revoked: [REVOKED], thisUpdate: new Date() }) });
    t.match(await next('fetched'), { kind: 'fetched', url, revoked: 1 });
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked', cached: true, stale: false });
    t.equal(server.requests(path), 2);
  });

  t.test('a failed refresh keeps the old CRL and is retried after the cooldown', async (t) => {
    const { path, url } = route(await expiringSoon(2000));
    const { crls, next } = remote(t, { failureCooldownMs: 500 });
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked' });
    server.set(path, { mode: 'status', status: 500 });
    t.match(await next('fetch-failed'), { url, reason: 'http-error', detail: 'HTTP 500' });
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked', cached: true }, 'answered from the old CRL');
    server.set(path, { mode: 'serve', body: await crlOf({ revoked: [REVOKED], thisUpdate: new Date() }) });
    t.match(await next('fetched'), { url, revoked: 1 });
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'revoked' });
    t.equal(server.requests(path), 3);
  });

  t.test('an older CRL served on refresh is not taken', async (t) => {
    const { path, url } = route(await expiringSoon(2000, { thisUpdate: new Date(Date.now() - 10_000) }));
    const { crls, next } = remote(t);
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked' });
    server.set(path, { mode: 'serve', body: await crlOf({ revoked: [REVOKED], thisUpdate: new Date(Date.now() - 60_000) }) });
    t.match(await next('fetch-failed'), { url, reason: 'rollback', detail: /is older than the held CRL's/ });
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked', cached: true });
    t.equal(crls.crls.length, 1);
  });

  t.test('close() stops the refresh timers', async (t) => {
    const { path, url } = route(await expiringSoon(2000));
    const { crls, events } = remote(t);
    t.match(await crls.status([url], ca.cert, REVOKED), { status: 'not-revoked' });
    crls.close();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    t.equal(server.requests(path), 1, 'not refreshed');
    t.equal(events.length, 1);
  });
});
