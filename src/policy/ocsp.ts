/**
 * An OCSP client (RFC 6960): builds the request for one certificate, posts it over HTTP
 * (Appendix A.1) and verifies the answer: status, signer authorization, signature over the
 * received tbsResponseData bytes, the CertID asked about, the nonce (RFC 8954) and the
 * thisUpdate / nextUpdate window. Every failure is a value from a closed union, never an exception.
 */
import { createHash, createPublicKey, randomBytes, verify, constants, type KeyObject, type X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityInfoAccessSyntax,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  id_ad_ocsp,
  id_ce_extKeyUsage,
  id_pe_authorityInfoAccess,
  type Name,
} from '@peculiar/asn1-x509';
import {
  BasicOCSPResponse,
  CertID,
  OCSPRequest,
  OCSPResponse,
  Request,
  TBSRequest,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  type ResponderID,
} from '@peculiar/asn1-ocsp';
import { x509 } from '../pki/x509.ts';

/** How the client asks and what it tolerates. */
export interface OcspSettings {
  /** Send an id-pkix-ocsp-nonce of {@link NONCE_OCTETS} random octets and require it echoed. */
  readonly nonce: boolean;
  /** Tolerance on thisUpdate (in the future) and nextUpdate (in the past). */
  readonly clockSkewMs: number;
  /** HTTP bodies longer than this are refused ({@link DEFAULT_MAX_RESPONSE_BYTES} is a sane value). */
  readonly maxResponseBytes: number;
}

/** A response size limit that fits a response with a delegated signer and a few certificates. */
export const DEFAULT_MAX_RESPONSE_BYTES = 65_536;

/** RFC 8954 §2.1: a nonce of 32 octets. */
export const NONCE_OCTETS = 32;

/** Why a responder's answer is not usable. */
export type OcspFailure =
  | 'http-error'
  | 'timeout'
  | 'network'
  | 'too-large'
  | 'malformed'
  | 'not-successful'
  | 'bad-signature'
  | 'unauthorized-signer'
  | 'nonce-mismatch'
  | 'wrong-certificate'
  | 'not-yet-valid'
  | 'expired';

/** A verified answer about one certificate, or the reason there is none. */
export type OcspOutcome =
  | {
      readonly ok: true;
      readonly status: 'good' | 'revoked' | 'unknown';
      readonly thisUpdate: Date;
      readonly nextUpdate: Date | undefined;
      readonly revokedAt?: Date;
      /** CRLReason code (RFC 5280 §5.3.1) when the responder gave one. */
      readonly revocationReason?: number;
      /** The CA signed the response itself, or a responder it authorized (RFC 6960 §4.2.2.2). */
      readonly signer: 'issuer' | 'delegated';
    }
  | { readonly ok: false; readonly reason: OcspFailure; readonly detail: string };

/** A request ready to send, with what its answer must match. */
export interface OcspRequest {
  /** DER of the OCSPRequest: the HTTP body. */
  readonly der: Buffer;
  /** The certificate asked about (RFC 6960 §4.1.1). */
  readonly certId: CertID;
  /** extnValue of the nonce extension sent (RFC 8954 §2.1), when one was. */
  readonly nonce: Buffer | undefined;
}

type Failure = Extract<OcspOutcome, { ok: false }>;

/** id-sha1 (RFC 3279 §2.1): the CertID hash every responder understands (RFC 5019 §2.1.1). */
const ID_SHA1 = '1.3.14.3.2.26';

/** OCSPResponseStatus names (RFC 6960 §4.2.1) for the failure detail. */
const RESPONSE_STATUS: Readonly<Record<number, string>> = {
  1: 'malformedRequest',
  2: 'internalError',
  3: 'tryLater',
  5: 'sigRequired',
  6: 'unauthorized',
};

/** Turns an AlgorithmIdentifier into its WebCrypto description (hash, PSS salt length). */
const algorithms = new x509.AlgorithmProvider();

/**
 * The http(s) URLs of the id-ad-ocsp accessMethods in the certificate's Authority Information
 * Access extension (RFC 5280 §4.2.2.1), in certificate order; empty when there is none or the
 * extension cannot be read.
 */
export function ocspResponderUrls(certificate: X509Certificate): string[] {
  try {
    const extension = AsnConvert.parse(certificate.raw, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_pe_authorityInfoAccess);
    if (extension === undefined) return [];
    return AsnConvert.parse(extension.extnValue.buffer, AuthorityInfoAccessSyntax)
      .filter((access) => access.accessMethod === id_ad_ocsp)
      .map((access) => access.accessLocation.uniformResourceIdentifier)
      .filter((url): url is string => url !== undefined && isHttpUrl(url));
  } catch {
    return [];
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Builds an unsigned OCSPRequest for `leaf`, issued by `issuer`, with a nonce extension when
 * `nonce` is given. Throws only when a certificate cannot be read as ASN.1.
 */
export function buildOcspRequest(leaf: X509Certificate, issuer: X509Certificate, nonce?: Uint8Array): OcspRequest {
  const leafTbs = AsnConvert.parse(leaf.raw, Certificate).tbsCertificate;
  const issuerTbs = AsnConvert.parse(issuer.raw, Certificate).tbsCertificate;
  // RFC 6960 §4.1.1: hashes of the DER of the issuer's name (the leaf's issuer field) and of the
  // issuer's public key BIT STRING value (without tag, length and unused-bits octet); the serial.
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: ID_SHA1, parameters: null }),
    issuerNameHash: new OctetString(sha1(AsnConvert.serialize(leafTbs.issuer))),
    issuerKeyHash: new OctetString(sha1(issuerTbs.subjectPublicKeyInfo.subjectPublicKey)),
    serialNumber: leafTbs.serialNumber,
  });
  // RFC 8954 §2.1: the nonce extension's value is the DER of an OCTET STRING holding the nonce.
  const nonceValue = nonce === undefined ? undefined : Buffer.from(AsnConvert.serialize(new OctetString(nonce)));
  const tbsRequest = new TBSRequest({ requestList: [new Request({ reqCert: certId })] });
  if (nonceValue !== undefined) {
    tbsRequest.requestExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(nonceValue) })];
  }
  return { der: Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest }))), certId, nonce: nonceValue };
}

/**
 * Verifies a DER OCSPResponse against the request it answers: successful basic response
 * (RFC 6960 §4.2.1), an authorized signer (§4.2.2.2) whose signature covers the received
 * tbsResponseData bytes, a SingleResponse for the CertID asked about, the echoed nonce when one was
 * sent (RFC 8954 §2.1), and thisUpdate / nextUpdate around `now` within the clock skew (§4.2.2.1).
 * Never throws.
 */
export function verifyOcspResponse(
  der: Uint8Array,
  request: OcspRequest,
  issuer: X509Certificate,
  settings: Pick<OcspSettings, 'clockSkewMs'>,
  now: Date,
): OcspOutcome {
  try {
    return verifyParsed(der, request, issuer, settings.clockSkewMs, now);
  } catch (error) {
    return failure('malformed', `unreadable response: ${describe(error)}`);
  }
}

function verifyParsed(der: Uint8Array, request: OcspRequest, issuer: X509Certificate, clockSkewMs: number, now: Date): OcspOutcome {
  const response = AsnConvert.parse(der, OCSPResponse);
  // RFC 6960 §4.2.1: only "successful" carries responseBytes; the other statuses are not signed.
  if (response.responseStatus !== 0) {
    const name = RESPONSE_STATUS[response.responseStatus] ?? 'unassigned';
    return failure('not-successful', `responseStatus ${name} (${response.responseStatus})`);
  }
  const bytes = response.responseBytes;
  if (bytes === undefined) return failure('malformed', 'successful response without responseBytes');
  if (bytes.responseType !== id_pkix_ocsp_basic) return failure('malformed', `responseType ${bytes.responseType} is not id-pkix-ocsp-basic`);
  const basic = AsnConvert.parse(bytes.response.buffer, BasicOCSPResponse);
  if (basic.tbsResponseDataRaw === undefined) return failure('malformed', 'tbsResponseData bytes missing');
  const data = basic.tbsResponseData;

  // RFC 6960 §3.2 items 3 and 4: the signer is the CA or a responder it authorized.
  const signer = authorizedSigner(basic, AsnConvert.parse(issuer.raw, Certificate), issuer.publicKey, now, clockSkewMs);
  if ('reason' in signer) return signer;
  // RFC 6960 §3.2 item 2: the signature covers the DER of tbsResponseData, taken as received.
  const badSignature = signatureProblem(basic.tbsResponseDataRaw, basic.signatureAlgorithm, basic.signature, signer.key);
  if (badSignature !== undefined) return failure('bad-signature', `response signature: ${badSignature}`);

  // RFC 6960 §3.2 item 1: the response names the certificate asked about.
  const single = data.responses.find((candidate) => sameCertId(candidate.certID, request.certId));
  if (single === undefined) return failure('wrong-certificate', `none of the ${data.responses.length} SingleResponse(s) is for the CertID asked about`);

  if (request.nonce !== undefined) {
    // RFC 8954 §2.1 / RFC 6960 §4.4.1: the responder echoes the nonce; without it a replay is possible.
    const echoed = data.responseExtensions?.find((extension) => extension.extnID === id_pkix_ocsp_nonce);
    if (echoed === undefined) return failure('nonce-mismatch', 'the response carries no nonce');
    if (!Buffer.from(echoed.extnValue.buffer).equals(request.nonce)) return failure('nonce-mismatch', 'the response carries another nonce');
  }

  // RFC 6960 §3.2 items 5 and 6, §4.2.2.1: a response from the future or past its nextUpdate is unreliable.
  if (single.thisUpdate.getTime() > now.getTime() + clockSkewMs) {
    return failure('not-yet-valid', `thisUpdate ${single.thisUpdate.toISOString()} is after ${now.toISOString()}`);
  }
  if (single.nextUpdate !== undefined && single.nextUpdate.getTime() < now.getTime() - clockSkewMs) {
    return failure('expired', `nextUpdate ${single.nextUpdate.toISOString()} is before ${now.toISOString()}`);
  }

  const common = { ok: true, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate, signer: signer.kind } as const;
  const { good, revoked, unknown } = single.certStatus;
  // RFC 6960 §4.2.1: CertStatus ::= CHOICE { good [0], revoked [1], unknown [2] }
  if (revoked !== undefined) {
    const reason = revoked.revocationReason?.reason;
    return { ...common, status: 'revoked', revokedAt: revoked.revocationTime, ...(reason === undefined ? {} : { revocationReason: reason }) };
  }
  if (good === null) return { ...common, status: 'good' };
  if (unknown === null) return { ...common, status: 'unknown' };
  return failure('malformed', 'SingleResponse without a certStatus');
}

/**
 * RFC 6960 §4.2.2.2: the response is signed by the CA that issued the certificate, or by a
 * responder certificate that CA issued for OCSP signing (id-kp-OCSPSigning), valid now (within
 * the clock skew). The ResponderID (§4.2.2.3) names which: by name or by SHA-1 of the public key.
 */
function authorizedSigner(
  basic: BasicOCSPResponse,
  issuer: Certificate,
  issuerKey: KeyObject,
  now: Date,
  clockSkewMs: number,
): { readonly kind: 'issuer' | 'delegated'; readonly key: KeyObject } | Failure {
  const responderId = basic.tbsResponseData.responderID;
  if (namesCertificate(responderId, issuer)) return { kind: 'issuer', key: issuerKey };
  const responder = basic.certs?.find((certificate) => namesCertificate(responderId, certificate));
  if (responder === undefined) return failure('unauthorized-signer', 'the ResponderID names neither the issuer nor a certificate in the response');
  const tbs = responder.tbsCertificate;
  if (!sameName(tbs.issuer, issuer.tbsCertificate.subject) || responder.tbsCertificateRaw === undefined) {
    return failure('unauthorized-signer', 'the responder certificate is not issued by the certificate issuer');
  }
  const badSignature = signatureProblem(responder.tbsCertificateRaw, responder.signatureAlgorithm, responder.signatureValue, issuerKey);
  if (badSignature !== undefined) return failure('unauthorized-signer', `the responder certificate does not verify with the issuer key: ${badSignature}`);
  const usage = tbs.extensions?.find((extension) => extension.extnID === id_ce_extKeyUsage);
  if (usage === undefined || !AsnConvert.parse(usage.extnValue.buffer, ExtendedKeyUsage).includes(id_kp_OCSPSigning)) {
    return failure('unauthorized-signer', 'the responder certificate lacks the id-kp-OCSPSigning extended key usage');
  }
  const notBefore = tbs.validity.notBefore.getTime();
  const notAfter = tbs.validity.notAfter.getTime();
  if (now.getTime() + clockSkewMs < notBefore.getTime() || now.getTime() - clockSkewMs > notAfter.getTime()) {
    return failure('unauthorized-signer', `the responder certificate is valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}`);
  }
  const key = createPublicKey({ key: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)), format: 'der', type: 'spki' });
  return { kind: 'delegated', key };
}

/** RFC 6960 §4.2.2.3: byName is the signer's subject, byKey the SHA-1 of its public key BIT STRING value. */
function namesCertificate(responderId: ResponderID, certificate: Certificate): boolean {
  const tbs = certificate.tbsCertificate;
  if (responderId.byName !== undefined) return sameName(responderId.byName, tbs.subject);
  if (responderId.byKey !== undefined) return sha1(tbs.subjectPublicKeyInfo.subjectPublicKey).equals(Buffer.from(responderId.byKey.buffer));
  return false;
}

/** Binary comparison of the DER of two names (stricter than RFC 5280 §7.1: a mismatch fails safe). */
function sameName(a: Name, b: Name): boolean {
  return Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)));
}

function sameCertId(a: CertID, b: CertID): boolean {
  return (
    a.hashAlgorithm.algorithm === b.hashAlgorithm.algorithm &&
    Buffer.from(a.issuerNameHash.buffer).equals(Buffer.from(b.issuerNameHash.buffer)) &&
    Buffer.from(a.issuerKeyHash.buffer).equals(Buffer.from(b.issuerKeyHash.buffer)) &&
    Buffer.from(a.serialNumber).equals(Buffer.from(b.serialNumber))
  );
}

/** The key types each supported signature scheme verifies with (WebCrypto scheme names). */
const SCHEME_KEY_TYPES: Readonly<Record<string, readonly string[]>> = {
  'RSASSA-PKCS1-v1_5': ['rsa'],
  'RSA-PSS': ['rsa', 'rsa-pss'],
  ECDSA: ['ec'],
};

/** What verifying needs from a signature AlgorithmIdentifier. */
interface Scheme {
  /** WebCrypto scheme name: `ECDSA`, `RSASSA-PKCS1-v1_5`, `RSA-PSS`, ... or the OID when unknown. */
  readonly name: string;
  /** WebCrypto hash name (`SHA-256`); absent for a key-only or unknown identifier. */
  readonly hash: string | undefined;
  /** RSA-PSS salt length (RFC 4055 §3.1). */
  readonly saltLength: number | undefined;
}

/** Reads `@peculiar/x509`'s WebCrypto description of an AlgorithmIdentifier (including RSA-PSS parameters). */
function schemeOf(algorithm: AlgorithmIdentifier): Scheme {
  // Declared as the DOM's `Algorithm`, which does not resolve here: read it as the shape it has.
  const described = algorithms.toWebAlgorithm(algorithm) as { name: unknown; hash?: { name?: unknown }; saltLength?: unknown };
  return {
    name: String(described.name),
    hash: typeof described.hash?.name === 'string' ? described.hash.name : undefined,
    saltLength: typeof described.saltLength === 'number' ? described.saltLength : undefined,
  };
}

/**
 * Checks `signature` over `data` with `key` under `algorithm` (ECDSA, RSA PKCS#1 v1.5, RSA-PSS);
 * undefined when it verifies, otherwise why not.
 */
function signatureProblem(data: ArrayBuffer, algorithm: AlgorithmIdentifier, signature: ArrayBuffer, key: KeyObject): string | undefined {
  const scheme = schemeOf(algorithm);
  const keyTypes = SCHEME_KEY_TYPES[scheme.name];
  if (keyTypes === undefined || scheme.hash === undefined) return `unsupported signature algorithm ${algorithm.algorithm}`;
  if (!keyTypes.includes(key.asymmetricKeyType ?? '')) return `a ${key.asymmetricKeyType ?? 'symmetric'} key cannot verify ${scheme.name}`;
  // WebCrypto hash names (SHA-256) to OpenSSL digest names (sha256).
  const digest = scheme.hash.replace('-', '').toLowerCase();
  const verifyKey = scheme.name === 'RSA-PSS' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength } : key;
  try {
    return verify(digest, new Uint8Array(data), verifyKey, new Uint8Array(signature)) ? undefined : 'does not verify';
  } catch (error) {
    return `does not verify (${describe(error)})`;
  }
}

/**
 * Asks one responder about `leaf` (issued by `issuer`) over HTTP POST (RFC 6960 Appendix A.1,
 * Content-Type application/ocsp-request) and verifies the answer with {@link verifyOcspResponse}.
 * Never throws: every failure is an outcome. `signal` carries the caller's timeout
 * (`AbortSignal.timeout`); an abort maps to 'timeout'. Redirects are not followed ('http-error').
 */
export async function queryOcsp(
  url: string,
  leaf: X509Certificate,
  issuer: X509Certificate,
  settings: OcspSettings,
  signal: AbortSignal,
  now: Date,
): Promise<OcspOutcome> {
  let request: OcspRequest;
  try {
    request = buildOcspRequest(leaf, issuer, settings.nonce ? randomBytes(NONCE_OCTETS) : undefined);
  } catch (error) {
    return failure('malformed', `cannot build the request: ${describe(error)}`);
  }
  const body = await post(url, request.der, settings.maxResponseBytes, signal);
  return Buffer.isBuffer(body) ? verifyOcspResponse(body, request, issuer, settings, now) : body;
}

/** POSTs the request and reads at most `maxBytes` of the answer. */
async function post(url: string, der: Buffer, maxBytes: number, signal: AbortSignal): Promise<Buffer | Failure> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request', Accept: 'application/ocsp-response' },
      body: der,
      redirect: 'manual',
      signal,
    });
    if (!response.ok) {
      await response.body?.cancel();
      return failure('http-error', `HTTP ${response.status} from ${url}`);
    }
    return await readCapped(response.body, maxBytes);
  } catch (error) {
    return signal.aborted ? failure('timeout', `no answer from ${url} in time`) : failure('network', `${url}: ${describe(error)}`);
  }
}

/** Reads the body, giving up as soon as it exceeds `maxBytes` (RFC 6960 sets no size: the cap is ours). */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | Failure> {
  if (body === null) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, total);
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return failure('too-large', `body exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
}

function sha1(data: ArrayBuffer): Buffer {
  return createHash('sha1').update(new Uint8Array(data)).digest();
}

function failure(reason: OcspFailure, detail: string): Failure {
  return { ok: false, reason, detail };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch wraps the socket error: its cause says what happened.
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
