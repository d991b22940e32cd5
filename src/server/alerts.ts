/**
 * The TLS alert sent when the policy refuses a peer (RFC 8446 §6.2 descriptions; RFC 5216
 * §2.1.3 asks for an alert before EAP-Failure).
 */
import { assertNever } from '../errors.ts';
import type { Decision } from '../policy/decide.ts';
import { AlertDescription } from '../tls/alert.ts';

/** Picks the alert description that tells the peer why its certificate was refused. */
export function alertFor(decision: Extract<Decision, { outcome: 'reject' }>): AlertDescription {
  const rejection = decision.certificateRejection;
  if (rejection === undefined) return AlertDescription.AccessDenied;
  switch (rejection) {
    case 'no-client-certificate':
      return AlertDescription.HandshakeFailure;
    case 'certificate-expired':
      return AlertDescription.CertificateExpired;
    case 'certificate-revoked':
      return AlertDescription.CertificateRevoked;
    // RFC 8446 §6.2: the certificate's status could not be established.
    case 'revocation-unknown':
    case 'revocation-unavailable':
    case 'crl-stale':
      return AlertDescription.CertificateUnknown;
    case 'untrusted-issuer':
      return AlertDescription.UnknownCa;
    case 'missing-client-auth-eku':
      return AlertDescription.UnsupportedCertificate;
    case 'certificate-not-yet-valid':
    case 'certificate-invalid':
      return AlertDescription.BadCertificate;
    default:
      return assertNever(rejection);
  }
}
