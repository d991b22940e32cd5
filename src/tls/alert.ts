/**
 * TLS alert records sent when the server refuses a peer after the handshake has run.
 *
 * Node offers no API to send an alert on a live connection. The server withholds its final flight
 * while it checks the peer, so a TLS 1.2 peer has not switched to the server's protected write
 * keys and reads a plaintext alert (RFC 5246 §7.2). TLS 1.3 peers need a protected record: see
 * `tls13-alert.ts`.
 */

/** Alert descriptions used when a certificate or a policy refuses a peer (RFC 8446 §6). */
export const AlertDescription = {
  HandshakeFailure: 40,
  BadCertificate: 42,
  UnsupportedCertificate: 43,
  CertificateRevoked: 44,
  CertificateExpired: 45,
  CertificateUnknown: 46,
  UnknownCa: 48,
  AccessDenied: 49,
  InternalError: 80,
} as const;
/** One of {@link AlertDescription}'s values. */
export type AlertDescription = (typeof AlertDescription)[keyof typeof AlertDescription];

const CONTENT_TYPE_ALERT = 21;
const LEVEL_FATAL = 2;

/** Encodes one fatal alert record with the legacy record version 0x0303 (RFC 8446 §5.1). */
export function fatalAlertRecord(description: AlertDescription): Buffer {
  return Buffer.from([CONTENT_TYPE_ALERT, 0x03, 0x03, 0x00, 0x02, LEVEL_FATAL, description]);
}
