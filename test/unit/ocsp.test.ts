/**
 * The OCSP client's pure parts (src/policy/ocsp.ts) on answers `openssl ocsp` writes offline
 * (`-reqin` / `-respout`, no server) from a PKI of its own, and on hand-made bytes: the request
 * is the one openssl builds, each signer is accepted or refused for its RFC 6960 §4.2.2.2 reason,
 * the signature covers the bytes received, and CertID, nonce and the time window are enforced.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPRequest, OCSPResponse, ResponseBytes, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { buildOcspRequest, ocspResponderUrls, verifyOcspResponse, type OcspOutcome, type OcspRequest } from '../../src/policy/ocsp.ts';
import { openssl } from '../support/openssl-pki.ts';
import { buildOcspPki, respondOffline, type OcspSignerKind } from '../support/ocsp-pki.ts';
import { ocspCertificates } from '../support/ocsp-pki.ts';

const OCSP_URL = 'http://127.0.0.1:9/ocsp';
const pki = buildOcspPki({ ocspUrl: OCSP_URL, crlUrl: 'http://127.0.0.1:9/root.crl' });
t.teardown(() => rmSync(pki.dir, { recursive: true, force: true }));
const { root, clients } = ocspCertificates(pki);
const NONCE = Buffer.alloc(32, 0x5a);
const SKEW = { clockSkewMs: 5_000 };
const HOUR_MS = 3_600_000;

/** Asks openssl about `client` and verifies the answer at `now`. */
function ask(client: keyof typeof clients, signer: OcspSignerKind, options: { extra?: string[]; now?: Date; skewMs?: number } = {}): OcspOutcome {
  const request = buildOcspRequest(clients[client], root, NONCE);
  const answer = respondOffline(pki, request.der, signer, options.extra);
  return verifyOcspResponse(answer, request, root, { clockSkewMs: options.skewMs ?? SKEW.clockSkewMs }, options.now ?? new Date());
}

function basicResponse(answer: Buffer): BasicOCSPResponse {
  const bytes = AsnConvert.parse(answer, OCSPResponse).responseBytes;
  return AsnConvert.parse(bytes?.response.buffer ?? new ArrayBuffer(0), BasicOCSPResponse);
}

function failed(outcome: OcspOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

t.test('the request is the one openssl builds (RFC 6960 §4.1.1 CertID with SHA-1)', async (t) => {
  for (const name of ['good', 'revoked', 'unknown'] as const) {
    const reqout = join(pki.dir, `openssl-${name}.req`);
    openssl(['ocsp', '-issuer', pki.rootCert, '-cert', pki.clients[name].leaf, '-no_nonce', '-reqout', reqout]);
    t.same(buildOcspRequest(clients[name], root).der, readFileSync(reqout), name);
  }
  const withNonce = AsnConvert.parse(buildOcspRequest(clients.good, root, NONCE).der, OCSPRequest);
  const extension = withNonce.tbsRequest.requestExtensions?.[0];
  t.equal(extension?.extnID, id_pkix_ocsp_nonce);
  // RFC 8954 §2.1: the extension value is an OCTET STRING (04 20) holding the 32 nonce octets.
  t.same(Buffer.from(extension?.extnValue.buffer ?? new ArrayBuffer(0)), Buffer.concat([Buffer.from([0x04, 0x20]), NONCE]));
});

t.test('good, revoked and unknown, from each authorized signer', async (t) => {
  const expected = { good: 'good', revoked: 'revoked', unknown: 'unknown' } as const;
  const pss = ['-rsigopt', 'rsa_padding_mode:pss', '-rsigopt', 'rsa_pss_saltlen:32'];
  const signers: readonly [OcspSignerKind, string[], 'issuer' | 'delegated', string][] = [
    ['delegated', [], 'delegated', 'delegated EC responder, ResponderID byName'],
    ['delegated', ['-resp_key_id'], 'delegated', 'delegated responder, ResponderID byKey'],
    ['issuer', [], 'issuer', 'the CA itself'],
    ['issuer', ['-resp_key_id', '-resp_no_certs'], 'issuer', 'the CA itself, byKey, no certificates'],
    ['delegated-rsa', [], 'delegated', 'delegated RSA responder, PKCS#1 v1.5'],
    ['delegated-rsa', pss, 'delegated', 'delegated RSA responder, RSA-PSS'],
  ];
  const pssAnswer = respondOffline(pki, buildOcspRequest(clients.good, root).der, 'delegated-rsa', pss);
  t.equal(basicResponse(pssAnswer).signatureAlgorithm.algorithm, '1.2.840.113549.1.1.10', 'openssl did sign with RSASSA-PSS');
  for (const [signer, extra, kind, name] of signers) {
    for (const client of ['good', 'revoked', 'unknown'] as const) {
      const outcome = ask(client, signer, { extra });
      t.match(outcome, { ok: true, status: expected[client], signer: kind }, `${name}: ${client}`);
    }
  }
  const revoked = ask('revoked', 'delegated');
  t.ok(revoked.ok && revoked.revokedAt instanceof Date && revoked.revokedAt.getTime() <= Date.now(), 'revokedAt is set');
  t.equal(revoked.ok ? revoked.revocationReason : undefined, 1, 'keyCompromise (RFC 5280 §5.3.1)');
  t.ok(revoked.ok && revoked.nextUpdate !== undefined && revoked.nextUpdate.getTime() > Date.now() + 23 * HOUR_MS, 'nextUpdate a day ahead (-ndays 1)');
});

t.test('signers RFC 6960 §4.2.2.2 does not authorize', async (t) => {
  t.match(ask('good', 'rogue'), { ok: false, reason: 'unauthorized-signer', detail: /OCSPSigning/ }, 'issued by the CA without id-kp-OCSPSigning');
  t.match(ask('good', 'impostor'), { ok: false, reason: 'unauthorized-signer', detail: /does not verify with the issuer key/ }, 'same issuer name, another CA key');
  t.match(ask('good', 'delegated', { extra: ['-resp_no_certs'] }), { ok: false, reason: 'unauthorized-signer', detail: /names neither/ }, 'delegated certificate left out');
  const lateNow = new Date(Date.now() + 400 * 24 * HOUR_MS);
  t.match(ask('good', 'delegated', { now: lateNow }), { ok: false, reason: 'unauthorized-signer', detail: /valid from/ }, 'delegated certificate expired');
});

t.test('the signature covers the bytes received', async (t) => {
  const request = buildOcspRequest(clients.good, root, NONCE);
  const answer = respondOffline(pki, request.der, 'delegated');
  t.match(verifyOcspResponse(answer, request, root, SKEW, new Date()), { ok: true, status: 'good' });

  const signature = Buffer.from(basicResponse(answer).signature);
  const badSignature = Buffer.from(answer);
  badSignature[badSignature.indexOf(signature) + 10]! ^= 0x01;
  t.match(verifyOcspResponse(badSignature, request, root, SKEW, new Date()), { ok: false, reason: 'bad-signature' }, 'signature value changed');

  // The echoed nonce sits inside tbsResponseData: changing it breaks the signature before the nonce check.
  const badData = Buffer.from(answer);
  badData[badData.indexOf(NONCE) + 3]! ^= 0x01;
  t.match(verifyOcspResponse(badData, request, root, SKEW, new Date()), { ok: false, reason: 'bad-signature' }, 'tbsResponseData changed');

  // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) turned into the unassigned 1.2.840.10045.4.3.9.
  const issuerSigned = respondOffline(pki, request.der, 'issuer', ['-resp_no_certs']);
  const oid = Buffer.from('06082a8648ce3d040302', 'hex');
  const unsupported = Buffer.from(issuerSigned);
  unsupported[unsupported.indexOf(oid) + oid.length - 1] = 0x09;
  t.match(verifyOcspResponse(unsupported, request, root, SKEW, new Date()), { ok: false, reason: 'bad-signature', detail: /unsupported signature algorithm 1\.2\.840\.10045\.4\.3\.9/ });
});

t.test('the answer must be about the certificate asked about', async (t) => {
  const asked = buildOcspRequest(clients.revoked, root);
  const answer = respondOffline(pki, buildOcspRequest(clients.good, root).der, 'delegated');
  t.match(verifyOcspResponse(answer, asked, root, SKEW, new Date()), { ok: false, reason: 'wrong-certificate' });
});

t.test('the nonce must come back (RFC 8954 §2.1)', async (t) => {
  const asked = buildOcspRequest(clients.good, root, NONCE);
  const withoutNonce = respondOffline(pki, buildOcspRequest(clients.good, root).der, 'delegated');
  t.match(verifyOcspResponse(withoutNonce, asked, root, SKEW, new Date()), { ok: false, reason: 'nonce-mismatch', detail: /no nonce/ });
  const otherNonce = respondOffline(pki, buildOcspRequest(clients.good, root, Buffer.alloc(32, 0x11)).der, 'delegated');
  t.match(verifyOcspResponse(otherNonce, asked, root, SKEW, new Date()), { ok: false, reason: 'nonce-mismatch', detail: /another nonce/ });
  const notAsked = buildOcspRequest(clients.good, root);
  const echoed = respondOffline(pki, asked.der, 'delegated');
  t.match(verifyOcspResponse(echoed, notAsked, root, SKEW, new Date()), { ok: true, status: 'good' }, 'a nonce nobody asked for is ignored');
});

t.test('thisUpdate and nextUpdate around now, with the clock skew (RFC 6960 §4.2.2.1)', async (t) => {
  const request: OcspRequest = buildOcspRequest(clients.good, root);
  // Signed by the CA itself: no responder certificate whose validity would fail first.
  const answer = respondOffline(pki, request.der, 'issuer');
  const at = (offsetMs: number, clockSkewMs: number) => failed(verifyOcspResponse(answer, request, root, { clockSkewMs }, new Date(Date.now() + offsetMs)));
  t.equal(at(0, 0), 'ok');
  t.equal(at(-10 * 60_000, 0), 'not-yet-valid', 'thisUpdate ten minutes ahead of the local clock');
  t.equal(at(-10 * 60_000, 15 * 60_000), 'ok', 'within a 15 minute skew');
  t.equal(at(25 * HOUR_MS, 0), 'expired', 'an hour after nextUpdate');
  t.equal(at(25 * HOUR_MS, 2 * HOUR_MS), 'ok', 'within a two hour skew');
});

t.test('status and bytes that carry no answer', async (t) => {
  const request = buildOcspRequest(clients.good, root);
  const verify = (hex: string) => verifyOcspResponse(Buffer.from(hex.replace(/ /g, ''), 'hex'), request, root, SKEW, new Date());
  // RFC 6960 §4.2.1: OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] OPTIONAL }
  t.match(verify('30 03 0a 01 03'), { ok: false, reason: 'not-successful', detail: /tryLater \(3\)/ });
  t.match(verify('30 03 0a 01 06'), { ok: false, reason: 'not-successful', detail: /unauthorized \(6\)/ });
  t.match(verify('30 03 0a 01 01'), { ok: false, reason: 'not-successful', detail: /malformedRequest/ });
  t.match(verify('30 03 0a 01 04'), { ok: false, reason: 'not-successful', detail: /unassigned \(4\)/ });
  t.match(verify('30 03 0a 01 00'), { ok: false, reason: 'malformed', detail: /without responseBytes/ });
  t.match(verify(''), { ok: false, reason: 'malformed' }, 'empty body');
  t.match(verify('3c 68 74 6d 6c 3e'), { ok: false, reason: 'malformed' }, 'an HTML page');
  t.match(verify('30 82 ff ff 0a 01 00'), { ok: false, reason: 'malformed' }, 'a length past the end');
  const otherType = new OCSPResponse({ responseStatus: 0, responseBytes: new ResponseBytes({ responseType: '1.2.3.4', response: new OctetString(new Uint8Array([5, 0])) }) });
  t.match(verifyOcspResponse(Buffer.from(AsnConvert.serialize(otherType)), request, root, SKEW, new Date()), { ok: false, reason: 'malformed', detail: /not id-pkix-ocsp-basic/ });
});

t.test('responder URLs from the Authority Information Access extension (RFC 5280 §4.2.2.1)', async (t) => {
  t.same(ocspResponderUrls(clients.good), [OCSP_URL]);
  t.same(ocspResponderUrls(clients.unknown), [OCSP_URL], 'issued outside openssl ca, same extensions');
  t.same(ocspResponderUrls(root), [], 'no AIA');
  const mixed = join(pki.dir, 'mixed-aia.pem');
  openssl(['req', '-x509', '-new', '-key', pki.rootKey, '-out', mixed, '-days', '1', '-subj', '/CN=Mixed AIA',
    '-addext', 'authorityInfoAccess=OCSP;URI:ldap://ldap.invalid/ocsp,caIssuers;URI:http://ca.invalid/root.crt,OCSP;URI:https://ocsp.invalid/a,OCSP;URI:http://ocsp.invalid/b']);
  t.same(ocspResponderUrls(new X509Certificate(readFileSync(mixed))), ['https://ocsp.invalid/a', 'http://ocsp.invalid/b'], 'http(s) OCSP entries only, in order');
});
