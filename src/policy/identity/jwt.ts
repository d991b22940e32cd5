/**
 * Signed JWTs for OAuth2 client authentication: Okta's `private_key_jwt` client assertion
 * (RFC 7523 §2.2) and Google's service-account assertion (RFC 7523 §2.1). Compact JWS
 * serialization (RFC 7515 §7.1) signed with `node:crypto`; the algorithm follows the key.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';

/** The JWS algorithms a key can sign with (RFC 7518 §3.1). */
export type JwtAlgorithm = 'RS256' | 'ES256';

/** Smallest RSA modulus accepted: RFC 7518 §3.3 requires 2048 bits or more for RS256. */
const MIN_RSA_BITS = 2048;

/**
 * The JWS algorithm for a PEM private key: RS256 for RSA (RFC 7518 §3.3), ES256 for an EC key on
 * P-256 (RFC 7518 §3.4). Throws a plain `Error` for anything else (another curve, RSA-PSS,
 * Ed25519, an RSA key under 2048 bits, not a private key): providers call it when they are built,
 * so a wrong key is a start-up error and not a failure at the first lookup.
 */
export function jwtAlgorithm(privateKeyPem: string): JwtAlgorithm {
  return signingKey(privateKeyPem).alg;
}

/**
 * Signs `claims` as a JWT (RFC 7519 §7.1) with a header of `alg`, `typ: "JWT"` and, when given,
 * `kid` (RFC 7515 §4.1.4). ES256 signatures are the raw `r || s` pair (RFC 7518 §3.4), not DER.
 * Throws like {@link jwtAlgorithm} when the key cannot sign.
 */
export function signJwt(claims: Readonly<Record<string, unknown>>, privateKeyPem: string, keyId?: string): string {
  const { key, alg } = signingKey(privateKeyPem);
  const header = keyId === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid: keyId };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256; §3.4: ECDSA P-256 with SHA-256, R || S.
  const signature = sign('sha256', Buffer.from(signingInput), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** base64url without padding (RFC 7515 §2). */
function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function signingKey(privateKeyPem: string): { key: KeyObject; alg: JwtAlgorithm } {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    // The library's message names the decoder step, never the key material.
    throw new Error(`JWT signing key is not a readable PEM private key (${error instanceof Error ? error.message : String(error)})`);
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`JWT signing key: RSA key of ${bits} bits, RS256 needs at least ${MIN_RSA_BITS} (RFC 7518 §3.3)`);
    return { key, alg: 'RS256' };
  }
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
  const kind = key.asymmetricKeyType === 'ec' ? `EC key on ${details?.namedCurve ?? 'an unknown curve'}` : `${key.asymmetricKeyType ?? 'unknown'} key`;
  throw new Error(`JWT signing key: ${kind} is not supported; use RSA (RS256) or EC P-256 (ES256)`);
}
