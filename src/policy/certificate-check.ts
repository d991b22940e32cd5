/**
 * The certificate half of the access decision: the peer chain (as OpenSSL verified it against
 * the trust anchors, RFC 5280 §6), the clientAuth extended key usage (RFC 5280 §4.2.1.12) and
 * the CRLs in force. The identity half is in `rules.ts`.
 */
import type { X509Certificate } from 'node:crypto';
import { certificateFacts, type CertificateFacts } from './certificate-facts.ts';
import type { CrlSet } from './crl-set.ts';
import type { RevocationRefusal } from './revocation.ts';

/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/** Why a certificate was refused; a closed set used as a metric label and log reason. */
export type CertificateRejection =
  | 'no-client-certificate'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'untrusted-issuer'
  | 'certificate-revoked'
  | 'certificate-invalid'
  | 'missing-client-auth-eku'
  | RevocationRefusal;

/** The peer's certificates as the TLS engine reports them. */
export interface PeerCertificates {
  readonly chainVerified: boolean;
  readonly verificationError: string | undefined;
  /** Peer certificate first, then its issuers up to the anchor. */
  readonly peerChain: readonly X509Certificate[];
}

/** Settings of the certificate check. */
export interface CertificateCheckSettings {
  readonly requireClientAuthEku: boolean;
  readonly crls: CrlSet;
}

/** The outcome of the certificate check. */
export type CertificateCheck =
  | { readonly ok: true; readonly facts: CertificateFacts }
  | { readonly ok: false; readonly reason: CertificateRejection; readonly detail: string; readonly facts?: CertificateFacts };

/** OpenSSL verification errors (as Node names them) mapped to our reasons. */
const OPENSSL_REASONS: Readonly<Record<string, CertificateRejection>> = {
  CERT_HAS_EXPIRED: 'certificate-expired',
  CERT_NOT_YET_VALID: 'certificate-not-yet-valid',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted-issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted-issuer',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted-issuer',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted-issuer',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted-issuer',
  CERT_REVOKED: 'certificate-revoked',
  INVALID_PURPOSE: 'missing-client-auth-eku',
};

/** Checks the peer's certificate chain; every path that is not provably good refuses. */
export function checkCertificate(peer: PeerCertificates, settings: CertificateCheckSettings, now: Date): CertificateCheck {
  const leaf = peer.peerChain[0];
  if (leaf === undefined) return { ok: false, reason: 'no-client-certificate', detail: 'the peer sent no certificate' };
  const facts = certificateFacts(leaf);
  // A resumed session carries the verification of its first handshake: the dates are checked
  // again here, so a certificate that expired since then is refused (RFC 5280 §6.1.3 (a)(2)).
  for (const certificate of peer.peerChain) {
    if (now < new Date(certificate.validFrom)) {
      return { ok: false, reason: 'certificate-not-yet-valid', detail: `not valid before ${certificate.validFrom}`, facts };
    }
    if (now > new Date(certificate.validTo)) {
      return { ok: false, reason: 'certificate-expired', detail: `expired ${certificate.validTo}`, facts };
    }
  }
  if (!peer.chainVerified) {
    const error = peer.verificationError ?? 'unknown';
    return { ok: false, reason: OPENSSL_REASONS[error] ?? 'certificate-invalid', detail: `chain verification: ${error}`, facts };
  }
  // OpenSSL already refused a certificate whose EKU lists other purposes only (INVALID_PURPOSE,
  // RFC 5280 §4.2.1.12); a certificate without the extension passes it, and is refused here
  // unless the operator allows that.
  if (settings.requireClientAuthEku && !(leaf.keyUsage ?? []).includes(CLIENT_AUTH_EKU)) {
    return { ok: false, reason: 'missing-client-auth-eku', detail: 'no clientAuth extended key usage', facts };
  }
  for (let i = 0; i + 1 < peer.peerChain.length; i++) {
    const subject = peer.peerChain[i]!;
    const issuer = peer.peerChain[i + 1]!;
    if (settings.crls.status(issuer, subject.serialNumber) === 'revoked') {
      return { ok: false, reason: 'certificate-revoked', detail: `serial ${subject.serialNumber} is on the CRL of ${issuer.subject.split('\n').join(', ')}`, facts };
    }
  }
  return { ok: true, facts };
}
