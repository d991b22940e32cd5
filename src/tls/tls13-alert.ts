/**
 * A TLS 1.3 alert record protected with the server's application traffic keys.
 *
 * Once the server has sent its Finished, a TLS 1.3 peer reads only protected records
 * (RFC 8446 §5.2), and Node has no API to send an alert on a live connection. The server holds
 * back everything OpenSSL wrote after its Finished (tickets, success indication), so the refusal
 * is the first record under server_application_traffic_secret_0: sequence number 0.
 */
import { createCipheriv, createHmac, type CipherChaCha20Poly1305Types, type CipherGCMTypes } from 'node:crypto';
import type { AlertDescription } from './alert.ts';

/** The AEAD and hash of each TLS 1.3 cipher suite Node enables (RFC 8446 §B.4). */
const SUITES: Readonly<Record<string, { cipher: CipherGCMTypes | CipherChaCha20Poly1305Types; keyLength: number; hash: string }>> = {
  TLS_AES_128_GCM_SHA256: { cipher: 'aes-128-gcm', keyLength: 16, hash: 'sha256' },
  TLS_AES_256_GCM_SHA384: { cipher: 'aes-256-gcm', keyLength: 32, hash: 'sha384' },
  TLS_CHACHA20_POLY1305_SHA256: { cipher: 'chacha20-poly1305', keyLength: 32, hash: 'sha256' },
};

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const CONTENT_TYPE_ALERT = 21;
const CONTENT_TYPE_APPLICATION_DATA = 23;
const LEVEL_FATAL = 2;

/** RFC 8446 §7.1 HKDF-Expand-Label(secret, label, "", length), one HMAC block per output block. */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([0])]);
  // RFC 5869 §2.3: T(1) = HMAC(PRK, info || 0x01); every length here fits in one block.
  return createHmac(hash, secret).update(info).update(Buffer.from([1])).digest().subarray(0, length);
}

/**
 * Encrypts one fatal alert as the first record under the server application traffic secret
 * (RFC 8446 §5.2, §5.3 and §7.3). Undefined when the cipher suite is not one Node enables.
 */
export function protectedAlertRecord(cipherSuite: string, serverTrafficSecret: Buffer, description: AlertDescription): Buffer | undefined {
  const suite = SUITES[cipherSuite];
  if (suite === undefined) return undefined;
  const key = expandLabel(suite.hash, serverTrafficSecret, 'key', suite.keyLength);
  // §5.3: the nonce is the IV XOR the 64-bit sequence number, which is 0 for the first record.
  const nonce = expandLabel(suite.hash, serverTrafficSecret, 'iv', IV_LENGTH);
  // §5.2: TLSInnerPlaintext = content || real content type, no padding.
  const inner = Buffer.from([LEVEL_FATAL, description, CONTENT_TYPE_ALERT]);
  const header = Buffer.from([CONTENT_TYPE_APPLICATION_DATA, 0x03, 0x03, 0x00, inner.length + TAG_LENGTH]);
  const algorithm = suite.cipher;
  const cipher =
    algorithm === 'chacha20-poly1305'
      ? createCipheriv(algorithm, key, nonce, { authTagLength: TAG_LENGTH })
      : createCipheriv(algorithm, key, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(header, { plaintextLength: inner.length });
  return Buffer.concat([header, cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
}
