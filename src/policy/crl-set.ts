/**
 * Certificate revocation lists loaded from files (RFC 5280 §5): each CRL is matched to the CA
 * that issued it by name and verified with that CA's key before it is used. Revoked serials are
 * indexed per issuing CA for a constant-time lookup on every authentication. The parse, verify
 * and index steps are exported for the CRLs fetched over HTTP (`remote-crls.ts`).
 */
import type { X509Certificate } from 'node:crypto';
import { PortcullisError } from '../errors.ts';
import { x509 } from '../pki/x509.ts';
import { normalizeSerial } from '../config/index.ts';

/** One verified CRL. */
export interface LoadedCrl {
  /** Where it came from: the file path, or the URL it was fetched from. */
  readonly source: string;
  /** SHA-256 fingerprint (Node's format) of the CA that signed it. */
  readonly issuerFingerprint: string;
  readonly issuerText: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Normalised serial numbers (config's `normalizeSerial`). */
  readonly revoked: ReadonlySet<string>;
}

/** Whether a certificate is on its issuer's CRL. */
export type CrlStatus = 'revoked' | 'not-revoked' | 'no-crl';

/** The CRLs in force, indexed by issuing CA. Immutable: a reload builds a new set. */
export class CrlSet {
  readonly #byIssuer: ReadonlyMap<string, LoadedCrl>;

  private constructor(byIssuer: ReadonlyMap<string, LoadedCrl>) {
    this.#byIssuer = byIssuer;
  }

  /** A set without CRLs. */
  static empty(): CrlSet {
    return new CrlSet(new Map());
  }

  /**
   * Parses CRL files (PEM, possibly several CRLs each, or DER) and verifies each against the CA
   * certificates. Throws a {@link PortcullisError} naming the file when a CRL cannot be parsed,
   * names no known CA, or fails its signature check: a CRL that cannot be trusted is not used.
   */
  static async load(
    files: readonly { path: string; data: Buffer }[],
    cas: readonly X509Certificate[],
  ): Promise<CrlSet> {
    const byIssuer = new Map<string, LoadedCrl>();
    for (const file of files) {
      const blocks = derBlocks(file.data, 'X509 CRL');
      // A file that holds no CRL (a certificate listed by mistake) would silently turn revocation off.
      if (blocks.length === 0) throw new PortcullisError('crl-unparseable', `${file.path}: holds no CRL`);
      for (const der of blocks) {
        const crl = parseCrl(der);
        if (crl === undefined) throw new PortcullisError('crl-unparseable', `${file.path}: not a CRL`);
        const signer = await crlSigner(crl, cas);
        if (!signer.ok) {
          throw signer.reason === 'wrong-issuer'
            ? new PortcullisError('crl-unknown-issuer', `${file.path}: CRL issuer "${crl.issuer}" is not a configured CA`)
            : new PortcullisError('crl-bad-signature', `${file.path}: CRL signature does not verify with "${crl.issuer}"`);
        }
        const previous = byIssuer.get(signer.issuer.fingerprint256);
        // Several CRLs of one CA: the most recent one is in force.
        if (previous !== undefined && previous.thisUpdate >= crl.thisUpdate) continue;
        byIssuer.set(signer.issuer.fingerprint256, loadedCrl(crl, file.path, signer.issuer));
      }
    }
    return new CrlSet(byIssuer);
  }

  /** The CRLs in force. */
  get crls(): readonly LoadedCrl[] {
    return [...this.#byIssuer.values()];
  }

  /** Looks a certificate up on the CRL of the CA that issued it. */
  status(issuer: X509Certificate, serial: string): CrlStatus {
    const crl = this.#byIssuer.get(issuer.fingerprint256);
    if (crl === undefined) return 'no-crl';
    return isRevoked(crl, serial) ? 'revoked' : 'not-revoked';
  }
}

/** Whether `serial` (any of the forms config's `normalizeSerial` accepts) is listed on `crl`. */
export function isRevoked(crl: LoadedCrl, serial: string): boolean {
  return crl.revoked.has(normalizeSerial(serial) ?? serial);
}

/** Parses one DER CRL (RFC 5280 §5.1); undefined when the bytes are not a CRL. */
export function parseCrl(der: Uint8Array): x509.X509Crl | undefined {
  try {
    return new x509.X509Crl(der);
  } catch {
    return undefined;
  }
}

/** Which of the candidate CAs issued a CRL, or why none did. */
export type CrlSigner =
  | { readonly ok: true; readonly issuer: X509Certificate }
  | { readonly ok: false; readonly reason: 'wrong-issuer' | 'bad-signature' };

/**
 * The candidate CA that issued `crl`: its subject equals the CRL issuer name (RFC 5280 §6.3.3
 * (b)(1)) and its public key verifies the CRL signature (RFC 5280 §6.3.3 (g)). A renewed CA keeps
 * its name under a new key, so among CAs of one name the issuer is the one whose key verifies.
 * 'wrong-issuer' when no candidate bears the name, 'bad-signature' when none of those verifies.
 */
export async function crlSigner(crl: x509.X509Crl, candidates: readonly X509Certificate[]): Promise<CrlSigner> {
  const named = candidates.map((node) => ({ node, peculiar: new x509.X509Certificate(node.raw) })).filter((ca) => ca.peculiar.subject === crl.issuer);
  if (named.length === 0) return { ok: false, reason: 'wrong-issuer' };
  for (const candidate of named) {
    if (await crl.verify({ publicKey: candidate.peculiar.publicKey }).catch(() => false)) return { ok: true, issuer: candidate.node };
  }
  return { ok: false, reason: 'bad-signature' };
}

/** A CRL whose signature `issuer` verified, indexed for lookups; `source` says where it came from. */
export function loadedCrl(crl: x509.X509Crl, source: string, issuer: X509Certificate): LoadedCrl {
  return {
    source,
    issuerFingerprint: issuer.fingerprint256,
    issuerText: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    revoked: new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber) ?? entry.serialNumber)),
  };
}

/**
 * The DER blocks of a PEM file with the given label (also the bare `CRL` label some tools
 * write), or the file itself when it is not PEM.
 */
export function derBlocks(data: Buffer, label: string): Buffer[] {
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN ')) return [data];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const blocks: Buffer[] = [];
  for (const match of text.matchAll(pattern)) {
    const found = match[1] ?? '';
    if (found === label || (label === 'X509 CRL' && found === 'CRL')) {
      blocks.push(Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64'));
    }
  }
  return blocks;
}
