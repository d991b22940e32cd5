import t from 'tap';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { X509Certificate, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortcullisError } from '../../src/errors.ts';
import { ensureDevPki, type DevClientName, type DevPkiCaPaths, type DevPkiManifest } from '../../src/pki/dev-pki.ts';
import { x509 } from '../../src/pki/x509.ts';
import { checkCertificate, type CertificateCheckSettings, type PeerCertificates } from '../../src/policy/certificate-check.ts';
import { certificateFacts } from '../../src/policy/certificate-facts.ts';
import { CrlSet } from '../../src/policy/crl-set.ts';
import { readCertificateNames } from '../../src/policy/der.ts';
import type { HandshakeResult } from '../../src/tls/engine.ts';
import { EapTlsPeer, devEngine, handshakeWith } from '../support/eap-tls-peer.ts';

const { paths: pki } = await ensureDevPki(join(tmpdir(), 'portcullis-test-pki'));
const manifest = JSON.parse(readFileSync(pki.manifest, 'utf8')) as DevPkiManifest;
const work = await mkdtemp(join(tmpdir(), 'portcullis-cert-test-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

const load = (file: string): X509Certificate => new X509Certificate(readFileSync(file));
const root = load(pki.root.cert);
const intermediate = load(pki.intermediate.cert);
const unrelated = load(pki.unrelatedCa.cert);
const client = (name: DevClientName): X509Certificate => load(pki.clients[name].leaf);
const crlFile = (path: string): { path: string; data: Buffer } => ({ path, data: readFileSync(path) });
const devCrls = [crlFile(pki.rootCrl), crlFile(pki.intermediateCrl)];
const devCrlSet = await CrlSet.load(devCrls, [root, intermediate]);
const intermediateThisUpdate = new Date(manifest.crls.find((crl) => crl.file === 'intermediate.crl.pem')?.thisUpdate ?? NaN);

// ---------------------------------------------------------------------------------------------
// Certificates and CRLs made for these tests

/** Runs the openssl CLI in the work directory. */
function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
}

openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'leaf.key');

/**
 * A leaf issued by the dev intermediate with the openssl CLI. `subject` is in `openssl req -subj`
 * form; `extensions` are config lines of the `[ext]` section (none: a certificate without
 * extensions).
 */
async function opensslLeaf(name: string, subject: string, extensions: readonly string[], serial = '0x0f01'): Promise<X509Certificate> {
  await writeFile(join(work, `${name}.cnf`), `[ext]\n${extensions.join('\n')}\n`);
  openssl('req', '-new', '-key', 'leaf.key', '-utf8', '-multivalue-rdn', '-subj', subject, '-out', `${name}.csr`);
  const ext = extensions.length === 0 ? [] : ['-extfile', `${name}.cnf`, '-extensions', 'ext'];
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', pki.intermediate.cert, '-CAkey', pki.intermediate.key, '-days', '30', '-set_serial', serial, ...ext, '-out', `${name}.pem`);
  return load(join(work, `${name}.pem`));
}

const LEAF_EXTENSIONS = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function signingKey(ca: DevPkiCaPaths): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decodeFirst(readFileSync(ca.key, 'utf8'));
  return webcrypto.subtle.importKey('pkcs8', der, ECDSA, false, ['sign']);
}

/** A DER CRL naming `issuer`, signed with `key`, listing `serials` (Node's hex form). */
async function makeCrl(issuer: X509Certificate, key: webcrypto.CryptoKey, serials: readonly string[], thisUpdate: Date): Promise<Buffer> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(issuer.raw).subjectName,
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + 86_400_000),
    signingKey: key,
    signingAlgorithm: ECDSA,
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
  });
  return Buffer.from(crl.rawData);
}

const pem = (der: Buffer, label: string): Buffer => Buffer.from(`${x509.PemConverter.encode(der, label)}\n`);
const intermediateKey = await signingKey(pki.intermediate);
const rootKey = await signingKey(pki.root);

// ---------------------------------------------------------------------------------------------
// certificateFacts

t.test('certificateFacts: a dev PKI client certificate', async (t) => {
  const cert = client('client-ec');
  const facts = certificateFacts(cert);
  t.same(facts.subject, { O: ['Portcullis Test'], OU: ['Staff'], CN: ['laptop-ec.portcullis.test'] });
  t.same(facts.issuer, { O: ['Portcullis Test'], CN: ['Portcullis Dev Issuing CA'] });
  t.same(facts.sanEmail, ['alice@portcullis.test']);
  t.same(facts.sanUri, ['urn:device:client-ec']);
  t.same(facts.sanUpn, ['alice@ad.portcullis.test']);
  t.same(facts.sanDns, []);
  const listed = manifest.certificates.find((c) => c.name === 'client-ec');
  t.equal(facts.serial, listed?.serial.toUpperCase().replace(/^0+/, ''), 'serial: upper-case hex, no leading zeros');
  t.equal(facts.notBefore.toISOString(), listed?.notBefore);
  t.equal(facts.notAfter.toISOString(), listed?.notAfter);
  t.equal(facts.subjectText, 'O=Portcullis Test, OU=Staff, CN=laptop-ec.portcullis.test');
  t.equal(facts.issuerText, 'O=Portcullis Test, CN=Portcullis Dev Issuing CA');
});

t.test('certificateFacts: server, root and RSA certificates', async (t) => {
  const server = certificateFacts(load(pki.server.leaf));
  t.same(server.sanDns, ['radius.portcullis.test']);
  t.same(server.subject.OU, ['RADIUS']);
  t.same([server.sanEmail, server.sanUri, server.sanUpn], [[], [], []]);
  const anchor = certificateFacts(root);
  t.same(anchor.subject, anchor.issuer, 'self-signed: issuer is the subject');
  t.same([anchor.sanEmail, anchor.sanDns, anchor.sanUri, anchor.sanUpn], [[], [], [], []], 'no SAN extension: empty lists');
  const rsa = certificateFacts(client('client-rsa'));
  t.same(rsa.subject.OU, ['Students']);
  t.same(rsa.sanUpn, ['bob@ad.portcullis.test']);
});

t.test('certificateFacts: serial normalised (leading zero octets, case)', async (t) => {
  const cert = await opensslLeaf('serial', '/O=Portcullis Test/CN=serial', LEAF_EXTENSIONS, '0x000f01');
  t.equal(cert.serialNumber, '0F01', 'Node prints the DER octets');
  t.equal(certificateFacts(cert).serial, 'F01');
});

t.test('certificateFacts: SAN values Node JSON-quotes (commas, quotes, apostrophes)', async (t) => {
  const cert = await opensslLeaf('quoted-san', '/O=Portcullis Test/CN=quoted', [
    ...LEAF_EXTENSIONS,
    'subjectAltName=@alt',
    '[alt]',
    'email.1="quote\\"d, comma@example.com"',
    'email.2=plain@example.com',
    'email.3=o\\\'brien@example.com',
    'DNS.1=host.example.com',
    'URI.1=urn:x:a,b',
    'otherName.1=1.3.6.1.4.1.311.20.2.3;UTF8:plain@ad.example.com',
    'otherName.2=1.3.6.1.4.1.311.20.2.3;UTF8:o\\\'brien@ad.example.com',
    'otherName.3=1.3.6.1.4.1.311.20.2.3;UTF8:"smith, j@ad.example.com"',
  ]);
  t.match(cert.subjectAltName, /email:"quote\\"d\\u002c comma@example\.com"/, 'Node quoted the value');
  const facts = certificateFacts(cert);
  t.same(facts.sanEmail, ['quote"d, comma@example.com', 'plain@example.com', "o'brien@example.com"]);
  t.same(facts.sanDns, ['host.example.com']);
  t.same(facts.sanUri, ['urn:x:a,b']);
  t.same(facts.sanUpn, ['plain@ad.example.com', "o'brien@ad.example.com", 'smith, j@ad.example.com'], 'UPNs Node quotes are read too');
});

t.test('certificateFacts: plain subjects with repeated and UTF-8 attributes', async (t) => {
  const cert = await opensslLeaf('plain-subject', '/O=Portcullis Test/OU=Staff/OU=Admins/CN=Ünïcode/emailAddress=x@example.com', LEAF_EXTENSIONS);
  t.same(certificateFacts(cert).subject, {
    O: ['Portcullis Test'],
    OU: ['Staff', 'Admins'],
    CN: ['Ünïcode'],
    emailAddress: ['x@example.com'],
  });
});

t.test('certificateFacts: subject values with commas, quotes and plus signs', async (t) => {
  const cert = await opensslLeaf('escaped-subject', '/O=Portcullis Test/OU=R&D, Lab/OU=Say "hi"/CN=a\\+b', LEAF_EXTENSIONS);
  t.equal(cert.subject, 'O=Portcullis Test\nOU=R&D\\, Lab\nOU=Say \\"hi\\"\nCN=a\\+b', "Node's form: RFC 2253 backslash escapes");
  const facts = certificateFacts(cert);
  t.same(facts.subject, { O: ['Portcullis Test'], OU: ['R&D, Lab', 'Say "hi"'], CN: ['a+b'] }, 'the values as encoded');
  t.equal(facts.subjectText, 'O=Portcullis Test, OU=R&D, Lab, OU=Say "hi", CN=a+b', 'one line, values unescaped');
});

t.test('certificateFacts: a multi-valued RDN', async (t) => {
  const cert = await opensslLeaf('multi-rdn', '/O=Portcullis Test/CN=host+UID=u1', LEAF_EXTENSIONS);
  t.equal(cert.subject, 'O=Portcullis Test\nCN=host + UID=u1', 'Node joins the values with " + "');
  const facts = certificateFacts(cert);
  t.same(facts.subject, { O: ['Portcullis Test'], CN: ['host'], UID: ['u1'] }, 'split, no spaces');
  t.equal(facts.subjectText, 'O=Portcullis Test, CN=host+UID=u1', '"+" joins the attributes of one RDN');
});

t.test('certificateFacts: a CN cannot inject another attribute', async (t) => {
  const cert = await opensslLeaf('injection', '/O=Portcullis Test/OU=Guests/CN=x\\+OU=Staff', LEAF_EXTENSIONS);
  t.equal(cert.subject, 'O=Portcullis Test\nOU=Guests\nCN=x\\+OU=Staff', 'one CN holding "+OU=Staff"');
  const facts = certificateFacts(cert);
  t.same(facts.subject.OU, ['Guests'], 'the only OU is Guests');
  t.same(facts.subject.CN, ['x+OU=Staff'], 'the CN is whole');
});

// ---------------------------------------------------------------------------------------------
// readCertificateNames on malformed DER

const NO_NAMES = { subject: [], issuer: [], sanEmail: [], sanDns: [], sanUri: [], sanUpn: [], sanIp: [], sanNaiRealm: [] };

/** DER TLV with a definite length (long form always, which DER readers must accept as well). */
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.from([tag, 0x84]), length, body]);
};
const CN_OID = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
const UPN_OID = Buffer.from([0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03]);
const SAN_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);

/** A skeleton certificate: issuer and subject Names made of `subjectValue`, an optional SAN extension. */
function skeletonCertificate(subjectValue: Buffer, san?: Buffer): Buffer {
  const name = tlv(0x30, tlv(0x31, tlv(0x30, CN_OID, subjectValue)));
  const empty = tlv(0x30);
  const extensions = san === undefined ? [] : [tlv(0xa3, tlv(0x30, tlv(0x30, SAN_OID, tlv(0x04, san))))];
  // version [0], serial, signature algorithm, issuer, validity, subject, key, extensions [3]
  const tbs = tlv(0x30, tlv(0xa0, Buffer.from([0x02, 0x01, 0x02])), Buffer.from([0x02, 0x01, 0x01]), empty, name, empty, name, empty, ...extensions);
  return tlv(0x30, tbs, empty, Buffer.from([0x03, 0x01, 0x00]));
}

t.test('readCertificateNames: a skeleton certificate is read', async (t) => {
  const upn = tlv(0x30, tlv(0xa0, UPN_OID, tlv(0xa0, tlv(0x0c, Buffer.from('u@ad.example')))));
  const names = readCertificateNames(skeletonCertificate(tlv(0x1e, Buffer.from('\u00e9t\u00e9', 'utf16le').swap16()), upn));
  t.same(names.subject, [{ type: 'CN', value: '\u00e9t\u00e9', rdn: 0 }], 'a BMPString');
  t.same(names.issuer, names.subject);
  t.same(names.sanUpn, ['u@ad.example']);
});

t.test('readCertificateNames: truncated and random DER yields nothing and never throws', async (t) => {
  const der = Buffer.from(client('client-ec').raw);
  t.same(readCertificateNames(der).sanUpn, ['alice@ad.portcullis.test'], 'the whole certificate is read');
  const cuts = Array.from({ length: der.length }, (_, length) => length);
  const namedCuts = cuts.filter((length) => JSON.stringify(readCertificateNames(der.subarray(0, length))) !== JSON.stringify(NO_NAMES));
  t.same(namedCuts, [], 'cut anywhere: no names');
  t.same(readCertificateNames(Buffer.from('this is not DER')), NO_NAMES);
  t.same(readCertificateNames(Buffer.alloc(0)), NO_NAMES, 'empty input');
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => Object.values(readCertificateNames(bytes)).every(Array.isArray)), { numRuns: 2000 });
  }, 'arbitrary bytes');
  const mutation = fc.record({ index: fc.nat({ max: der.length - 1 }), byte: fc.integer({ min: 0, max: 255 }) });
  t.doesNotThrow(() => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const mutated = Buffer.from(der);
        for (const { index, byte } of mutations) mutated[index] = byte;
        return Object.values(readCertificateNames(mutated)).every(Array.isArray);
      }),
      { numRuns: 2000 },
    );
  }, 'a certificate with octets changed');
});

t.test('readCertificateNames: malformed strings inside well-formed DER never throw', async (t) => {
  const oddBmp = tlv(0x1e, Buffer.from([0x00, 0x41, 0x00]));
  t.doesNotThrow(() => readCertificateNames(skeletonCertificate(oddBmp)), 'a BMPString of an odd length in a Name');
  const oddUpn = tlv(0x30, tlv(0xa0, UPN_OID, tlv(0xa0, oddBmp)));
  t.doesNotThrow(() => readCertificateNames(skeletonCertificate(tlv(0x0c, Buffer.from('x')), oddUpn)), 'a BMPString of an odd length in a UPN');
  const longUniversal = tlv(0x1c, Buffer.alloc(4 * 200_000, Buffer.from([0, 0, 0, 0x41])));
  t.doesNotThrow(() => readCertificateNames(skeletonCertificate(longUniversal)), 'a UniversalString of 200,000 characters');
});

// ---------------------------------------------------------------------------------------------
// checkCertificate

const settings = (over: Partial<CertificateCheckSettings> = {}): CertificateCheckSettings => ({
  requireClientAuthEku: true,
  crls: devCrlSet,
  ...over,
});
const verified = (leaf: X509Certificate): PeerCertificates => ({ chainVerified: true, verificationError: undefined, peerChain: [leaf, intermediate, root] });
const refused = (leaf: X509Certificate, error: string | undefined, chain = [leaf, intermediate, root]): PeerCertificates => ({
  chainVerified: false,
  verificationError: error,
  peerChain: chain,
});
const engine = devEngine(pki);

/** The handshake of a dev PKI client, or of a leaf made here (its name) with the shared key. */
async function handshakeOf(peer: DevClientName | { made: string }): Promise<HandshakeResult> {
  const files = typeof peer === 'string' ? peer : { cert: join(work, `${peer.made}.pem`), key: join(work, 'leaf.key') };
  const handshake = await handshakeWith(engine, new EapTlsPeer(pki, files));
  if (handshake === undefined) throw new Error(`no handshake for ${JSON.stringify(peer)}`);
  return handshake;
}

/** A leaf the dev intermediate issued with no extended key usage extension at all. */
const noEkuLeaf = await opensslLeaf('no-eku', '/O=Portcullis Test/OU=Staff/CN=no-eku', LEAF_EXTENSIONS, '0x0f02');

t.test('checkCertificate: a good chain is ok and carries the facts', async (t) => {
  const result = checkCertificate(verified(client('client-ec')), settings(), new Date());
  t.same(result, { ok: true, facts: certificateFacts(client('client-ec')) });
  t.ok(checkCertificate(verified(client('client-rsa')), settings({ crls: CrlSet.empty() }), new Date()).ok, 'no CRLs: nothing is revoked');
});

t.test('checkCertificate: no certificate', async (t) => {
  const result = checkCertificate({ chainVerified: false, verificationError: undefined, peerChain: [] }, settings(), new Date());
  t.same(result, { ok: false, reason: 'no-client-certificate', detail: 'the peer sent no certificate' });
  t.notOk('facts' in result);
});

t.test('checkCertificate: every OpenSSL verification error refuses, whatever requireClientAuthEku says', async (t) => {
  const codesByReason: Record<string, readonly string[]> = {
    'certificate-expired': ['CERT_HAS_EXPIRED'],
    'certificate-not-yet-valid': ['CERT_NOT_YET_VALID'],
    'certificate-revoked': ['CERT_REVOKED'],
    'missing-client-auth-eku': ['INVALID_PURPOSE'],
    'untrusted-issuer': [
      'UNABLE_TO_GET_ISSUER_CERT',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    ],
    // Anything else OpenSSL may report.
    'certificate-invalid': ['CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA'],
  };
  const expected = Object.entries(codesByReason).flatMap(([reason, codes]) => codes.map((code) => [code, reason] as const));
  const leaf = client('client-ec');
  for (const requireClientAuthEku of [true, false]) {
    const config = settings({ requireClientAuthEku });
    for (const [error, reason] of expected) {
      const result = checkCertificate(refused(leaf, error), config, new Date());
      t.same(result, { ok: false, reason, detail: `chain verification: ${error}`, facts: certificateFacts(leaf) }, `${error}, requireClientAuthEku ${requireClientAuthEku}`);
    }
    const unknown = checkCertificate(refused(leaf, undefined), config, new Date());
    t.match(unknown, { ok: false, reason: 'certificate-invalid', detail: 'chain verification: unknown' }, 'no error code');
  }
  // The real failing certificates of the dev PKI, as OpenSSL reports them.
  t.match(checkCertificate(refused(client('client-expired'), 'CERT_HAS_EXPIRED'), settings(), new Date()), { reason: 'certificate-expired' });
  const foreign = client('client-unknown-ca');
  t.match(checkCertificate(refused(foreign, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', [foreign]), settings(), new Date()), { reason: 'untrusted-issuer' });
});

t.test('checkCertificate: an EKU without clientAuth is refused (RFC 5280 §4.2.1.12)', async (t) => {
  const noeku = client('client-noeku');
  // OpenSSL checks the TLS client purpose itself: serverAuth only fails the chain.
  const handshake = await handshakeOf('client-noeku');
  t.match(handshake, { chainVerified: false, verificationError: 'INVALID_PURPOSE' }, 'OpenSSL refuses the purpose');
  for (const requireClientAuthEku of [true, false]) {
    t.same(checkCertificate(handshake, settings({ requireClientAuthEku }), new Date()), {
      ok: false,
      reason: 'missing-client-auth-eku',
      detail: 'chain verification: INVALID_PURPOSE',
      facts: certificateFacts(noeku),
    }, `requireClientAuthEku ${requireClientAuthEku}: refused`);
  }
  // Should the chain ever be reported verified, the required EKU is still looked for.
  t.same(checkCertificate(verified(noeku), settings(), new Date()), {
    ok: false,
    reason: 'missing-client-auth-eku',
    detail: 'no clientAuth extended key usage',
    facts: certificateFacts(noeku),
  }, 'serverAuth only, reported verified: refused');
});

t.test('checkCertificate: a leaf without the EKU extension, as requireClientAuthEku says', async (t) => {
  t.equal(noEkuLeaf.keyUsage, undefined, 'no EKU extension');
  const handshake = await handshakeOf({ made: 'no-eku' });
  t.match(handshake, { chainVerified: true, verificationError: undefined }, 'OpenSSL verifies the chain: no EKU is no purpose error');
  t.same(checkCertificate(handshake, settings(), new Date()), {
    ok: false,
    reason: 'missing-client-auth-eku',
    detail: 'no clientAuth extended key usage',
    facts: certificateFacts(noEkuLeaf),
  }, 'required: refused');
  t.same(checkCertificate(handshake, settings({ requireClientAuthEku: false }), new Date()), { ok: true, facts: certificateFacts(noEkuLeaf) }, 'not required: accepted');
});

t.test('checkCertificate: real handshakes with an unhandled critical extension', async (t) => {
  // RFC 5280 §4.2: a certificate with an unrecognised critical extension must be rejected.
  const critical = '1.2.3.4.5=critical,ASN1:UTF8String:must-understand';
  const probe = async (name: string, eku: string) => {
    await opensslLeaf(name, '/O=Portcullis Test/OU=Staff/CN=critical', [...LEAF_EXTENSIONS, `extendedKeyUsage=${eku}`, critical]);
    return handshakeOf({ made: name });
  };
  const withClientAuth = await probe('critical-clientauth', 'clientAuth');
  // Node has no name for X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION.
  t.match(withClientAuth, { chainVerified: false, verificationError: 'UNSPECIFIED' }, 'OpenSSL refuses it');
  t.match(checkCertificate(withClientAuth, settings({ requireClientAuthEku: false }), new Date()), { ok: false, reason: 'certificate-invalid' });

  // With serverAuth only, OpenSSL reports the purpose error last: the critical extension is hidden.
  const withServerAuth = await probe('critical-serverauth', 'serverAuth');
  t.match(withServerAuth, { chainVerified: false, verificationError: 'INVALID_PURPOSE' }, 'only the last error is reported');
  for (const requireClientAuthEku of [true, false]) {
    t.match(checkCertificate(withServerAuth, settings({ requireClientAuthEku }), new Date()), { ok: false, reason: 'missing-client-auth-eku' }, `requireClientAuthEku ${requireClientAuthEku}: refused`);
  }
});

t.test('checkCertificate: a peer certificate with a malformed UPN is refused, not thrown on', async (t) => {
  // A SAN otherName UPN holding a BMPString of 3 octets (UCS-2 needs an even count).
  await opensslLeaf('odd-upn', '/O=Portcullis Test/OU=Staff/CN=odd-upn', [...LEAF_EXTENSIONS, 'subjectAltName=DER:3015A013060A2B060104018237140203A0051E03006162']);
  const handshake = await handshakeOf({ made: 'odd-upn' });
  // OpenSSL refuses the chain (it cannot decode the SAN either); the leaf still reaches the policy.
  t.match(handshake, { chainVerified: false, verificationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', peerChain: { length: 1 } }, 'OpenSSL refuses it');
  t.doesNotThrow(() => t.match(checkCertificate(handshake, settings(), new Date()), { ok: false, reason: 'untrusted-issuer' }), 'refused as untrusted');
});

t.test('checkCertificate: revocation through the CRL set', async (t) => {
  const revoked = client('client-revoked');
  const result = checkCertificate(verified(revoked), settings(), new Date());
  t.match(result, { ok: false, reason: 'certificate-revoked', facts: certificateFacts(revoked) });
  t.equal(result.ok ? '' : result.detail, `serial ${revoked.serialNumber} is on the CRL of O=Portcullis Test, CN=Portcullis Dev Issuing CA`);
  t.ok(checkCertificate(verified(revoked), settings({ crls: CrlSet.empty() }), new Date()).ok, 'without CRLs it passes');

  // The root revokes the intermediate: every leaf below it is refused.
  const rootCrl = await makeCrl(root, rootKey, [intermediate.serialNumber], new Date(intermediateThisUpdate.getTime() + 1000));
  const crls = await CrlSet.load([{ path: 'root-revokes-intermediate.crl', data: rootCrl }, devCrls[1]!], [root, intermediate]);
  const below = checkCertificate(verified(client('client-ec')), settings({ crls }), new Date());
  t.match(below, { ok: false, reason: 'certificate-revoked' });
  t.match(below.ok ? '' : below.detail, /is on the CRL of O=Portcullis Test, CN=Portcullis Dev Root CA$/);

  // A leaf admitted without an EKU extension is still looked up on the CRL.
  const noEkuCrl = await makeCrl(intermediate, intermediateKey, [noEkuLeaf.serialNumber], new Date(intermediateThisUpdate.getTime() + 1000));
  const withNoEku = await CrlSet.load([{ path: 'no-eku.crl', data: noEkuCrl }], [root, intermediate]);
  t.match(checkCertificate(verified(noEkuLeaf), settings({ requireClientAuthEku: false, crls: withNoEku }), new Date()), { ok: false, reason: 'certificate-revoked' });
});

// ---------------------------------------------------------------------------------------------
// CrlSet

const intermediateDer = x509.PemConverter.decodeFirst(readFileSync(pki.intermediateCrl, 'utf8'));
const revokedSerial = client('client-revoked').serialNumber;

t.test('CrlSet.load: the dev CRLs, PEM "X509 CRL"', async (t) => {
  t.equal(devCrlSet.crls.length, 2);
  const crl = devCrlSet.crls.find((c) => c.issuerFingerprint === intermediate.fingerprint256);
  t.equal(crl?.source, pki.intermediateCrl);
  t.equal(crl?.issuerText, 'O=Portcullis Test, CN=Portcullis Dev Issuing CA');
  t.same([...(crl?.revoked ?? [])], [revokedSerial.replace(/^0+/, '')]);
  t.equal(crl?.thisUpdate.getTime(), Math.floor(intermediateThisUpdate.getTime() / 1000) * 1000, 'thisUpdate, to the second');
  t.ok(crl?.nextUpdate instanceof Date);
  const rootCrl = devCrlSet.crls.find((c) => c.issuerFingerprint === root.fingerprint256);
  t.equal(rootCrl?.revoked.size, 0, "the root's CRL is empty");
  t.same(CrlSet.empty().crls, []);
});

t.test('CrlSet.load: PEM label "CRL", DER, and two CRLs in one PEM file', async (t) => {
  const inputs: [string, Buffer][] = [
    ['CRL label', pem(Buffer.from(intermediateDer), 'CRL')],
    ['DER', Buffer.from(intermediateDer)],
    ['two in one', Buffer.concat([readFileSync(pki.rootCrl), readFileSync(pki.intermediateCrl)])],
    ['with other blocks around', Buffer.concat([readFileSync(pki.root.cert), Buffer.from('comment\n'), readFileSync(pki.intermediateCrl)])],
  ];
  for (const [what, data] of inputs) {
    const set = await CrlSet.load([{ path: what, data }], [root, intermediate]);
    t.equal(set.status(intermediate, revokedSerial), 'revoked', what);
    t.equal(set.crls.find((c) => c.issuerFingerprint === intermediate.fingerprint256)?.source, what);
  }
  const both = await CrlSet.load([{ path: 'both.pem', data: inputs[2]![1] }], [root, intermediate]);
  t.same(both.crls.map((c) => c.issuerFingerprint).sort(), [root.fingerprint256, intermediate.fingerprint256].sort());
});

/** Loads and resolves to the PortcullisError code, or 'loaded'. */
async function loadError(files: { path: string; data: Buffer }[], cas: X509Certificate[]): Promise<{ code: string; message: string }> {
  try {
    await CrlSet.load(files, cas);
    return { code: 'loaded', message: '' };
  } catch (error) {
    if (!(error instanceof PortcullisError)) throw error;
    return { code: error.code, message: error.message };
  }
}

t.test('CrlSet.load: refuses CRLs it cannot trust, naming the file', async (t) => {
  const unknown = await loadError([{ path: 'only-root-known.pem', data: readFileSync(pki.intermediateCrl) }], [root]);
  t.equal(unknown.code, 'crl-unknown-issuer');
  t.match(unknown.message, /^only-root-known\.pem: CRL issuer ".*Portcullis Dev Issuing CA" is not a configured CA$/);

  const unrelatedKey = await signingKey(pki.unrelatedCa);
  const foreign = await makeCrl(unrelated, unrelatedKey, [], new Date());
  t.equal((await loadError([{ path: 'unrelated.crl', data: foreign }], [root, intermediate])).code, 'crl-unknown-issuer');

  const tampered = Buffer.from(intermediateDer);
  tampered[tampered.length - 1]! ^= 0x01;
  const bad = await loadError([{ path: 'tampered.crl', data: tampered }], [root, intermediate]);
  t.equal(bad.code, 'crl-bad-signature');
  t.match(bad.message, /^tampered\.crl: CRL signature does not verify/);
  const forged = await makeCrl(intermediate, unrelatedKey, [], new Date());
  t.equal((await loadError([{ path: 'forged.crl', data: forged }], [root, intermediate])).code, 'crl-bad-signature', 'right name, wrong key');

  for (const [what, data] of [
    ['not PEM, not DER', Buffer.from('this is not a CRL')],
    ['a CRL label around garbage', Buffer.from('-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n')],
    ['a certificate in DER', Buffer.from(root.raw)],
  ] as const) {
    const garbage = await loadError([{ path: 'garbage.crl', data }], [root, intermediate]);
    t.equal(garbage.code, 'crl-unparseable', what);
    t.equal(garbage.message, 'garbage.crl: not a CRL');
  }
  t.equal((await loadError([devCrls[1]!, { path: 'late.crl', data: Buffer.from('junk') }], [root, intermediate])).code, 'crl-unparseable', 'one bad file spoils the load');
});

t.test('CrlSet.load: the newest CRL of a CA is in force, in either order', async (t) => {
  const ec = client('client-ec');
  const newer = { path: 'newer.crl', data: await makeCrl(intermediate, intermediateKey, [ec.serialNumber], new Date(intermediateThisUpdate.getTime() + 60_000)) };
  for (const files of [[devCrls[1]!, newer], [newer, devCrls[1]!]]) {
    const set = await CrlSet.load(files, [root, intermediate]);
    t.equal(set.crls.length, 1);
    t.equal(set.crls[0]?.source, 'newer.crl');
    t.equal(set.status(intermediate, ec.serialNumber), 'revoked');
    t.equal(set.status(intermediate, revokedSerial), 'not-revoked');
  }
});

t.test('CrlSet.status: revoked, not revoked, no CRL', async (t) => {
  t.equal(devCrlSet.status(intermediate, revokedSerial), 'revoked');
  t.equal(devCrlSet.status(intermediate, `00:${revokedSerial.toLowerCase().match(/../g)?.join(':') ?? ''}`), 'revoked', 'serial normalised');
  t.equal(devCrlSet.status(intermediate, client('client-ec').serialNumber), 'not-revoked');
  t.equal(devCrlSet.status(root, intermediate.serialNumber), 'not-revoked', 'on the empty root CRL');
  t.equal(devCrlSet.status(unrelated, client('client-unknown-ca').serialNumber), 'no-crl');
  t.equal(CrlSet.empty().status(intermediate, revokedSerial), 'no-crl');
});

t.test('CrlSet.load: a CRL file without any CRL', async (t) => {
  // A certificate listed under crl_files by mistake would turn revocation off for that CA.
  const outcome = await loadError([{ path: 'intermediate.pem', data: readFileSync(pki.intermediate.cert) }], [root, intermediate]);
  t.same(outcome, { code: 'crl-unparseable', message: 'intermediate.pem: holds no CRL' }, 'refused, naming the file');
  const later = await loadError([devCrls[1]!, { path: 'root.pem', data: readFileSync(pki.root.cert) }], [root, intermediate]);
  t.equal(later.code, 'crl-unparseable', 'after a good file too');
});

t.test('CrlSet.load: two CA certificates with one name (key rollover)', async (t) => {
  // A renewed CA keeps its name and gets a new key; its CRLs are signed with the new key.
  const keys = (await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const renewed = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0badc0de',
    name: new x509.X509Certificate(intermediate.raw).subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ECDSA,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.keyCertSign, true)],
  });
  const renewedNode = new X509Certificate(Buffer.from(renewed.rawData));
  const byNewKey = { path: 'renewed.crl', data: await makeCrl(renewedNode, keys.privateKey, ['0a'], new Date()) };
  for (const cas of [[root, intermediate, renewedNode], [root, renewedNode, intermediate]]) {
    const set = await CrlSet.load([byNewKey, devCrls[1]!], cas);
    t.same(
      set.crls.map((crl) => [crl.source, crl.issuerFingerprint]).sort(),
      [[pki.intermediateCrl, intermediate.fingerprint256], ['renewed.crl', renewedNode.fingerprint256]].sort(),
      'each CRL goes to the CA whose key signed it, whatever the order of the CAs',
    );
    t.equal(set.status(renewedNode, '0A'), 'revoked', 'on the renewed CA\'s CRL');
    t.equal(set.status(intermediate, '0A'), 'not-revoked', 'not on the old CA\'s CRL');
    t.equal(set.status(intermediate, revokedSerial), 'revoked');
  }
  const unrelatedKey = await signingKey(pki.unrelatedCa);
  const forged = { path: 'forged.crl', data: await makeCrl(intermediate, unrelatedKey, [], new Date()) };
  t.same(
    await loadError([forged], [root, intermediate, renewedNode]),
    { code: 'crl-bad-signature', message: `forged.crl: CRL signature does not verify with "${new x509.X509Certificate(intermediate.raw).subject}"` },
    'the name of both, the key of neither',
  );
});

t.test('checkCertificate: dates are checked again (a resumed session keeps its first verification)', async (t) => {
  const peer = verified(client('client-ec'));
  const leaf = peer.peerChain[0]!;
  const afterExpiry = new Date(new Date(leaf.validTo).getTime() + 1000);
  const beforeStart = new Date(new Date(leaf.validFrom).getTime() - 1000);
  t.match(checkCertificate(peer, settings(), afterExpiry), { ok: false, reason: 'certificate-expired' }, 'expired since');
  t.match(checkCertificate(peer, settings(), beforeStart), { ok: false, reason: 'certificate-not-yet-valid' }, 'not yet valid');
  t.ok(checkCertificate(peer, settings(), new Date()).ok, 'in date: accepted');
});
