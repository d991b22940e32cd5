/**
 * Certificate revocation lists loaded from files (RFC 5280 §5): each CRL is matched to the CA
 * that issued it by name and verified with that CA's key before it is used. Revoked serials are
 * indexed per issuing CA for a constant-time lookup on every authentication.
 */
import type { X509Certificate } from 'node:crypto';
import { PortcullisError } from '../errors.ts';
import { x509 } from '../pki/x509.ts';
import { normalizeSerial } from '../config/index.ts';

/** One verified CRL. */
export interface LoadedCrl {
  /** The file it came from. */
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
    const issuers = cas.map((ca) => ({ node: ca, peculiar: new x509.X509Certificate(ca.raw) }));
    const byIssuer = new Map<string, LoadedCrl>();
    for (const file of files) {
      const blocks = derBlocks(file.data, 'X509 CRL');
      // A file that holds no CRL (a certificate listed by mistake) would silently turn revocation off.
      if (blocks.length === 0) throw new PortcullisError('crl-unparseable', `${file.path}: holds no CRL`);
      for (const der of blocks) {
        const crl = parseCrl(der, file.path);
        const named = issuers.filter((ca) => ca.peculiar.subject === crl.issuer);
        if (named.length === 0) {
          throw new PortcullisError('crl-unknown-issuer', `${file.path}: CRL issuer "${crl.issuer}" is not a configured CA`);
        }
        // A renewed CA keeps its name under a new key: the issuer is the one whose key verifies.
        const issuer = await findSigner(crl, named);
        if (issuer === undefined) {
          throw new PortcullisError('crl-bad-signature', `${file.path}: CRL signature does not verify with "${crl.issuer}"`);
        }
        const previous = byIssuer.get(issuer.node.fingerprint256);
        // Several CRLs of one CA: the most recent one is in force.
        if (previous !== undefined && previous.thisUpdate >= crl.thisUpdate) continue;
        byIssuer.set(issuer.node.fingerprint256, {
          source: file.path,
          issuerFingerprint: issuer.node.fingerprint256,
          issuerText: crl.issuer,
          thisUpdate: crl.thisUpdate,
          nextUpdate: crl.nextUpdate,
          revoked: new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber) ?? entry.serialNumber)),
        });
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
    return crl.revoked.has(normalizeSerial(serial) ?? serial) ? 'revoked' : 'not-revoked';
  }
}

async function findSigner<T extends { peculiar: x509.X509Certificate }>(crl: x509.X509Crl, candidates: readonly T[]): Promise<T | undefined> {
  for (const candidate of candidates) {
    if (await crl.verify({ publicKey: candidate.peculiar.publicKey }).catch(() => false)) return candidate;
  }
  return undefined;
}

function parseCrl(der: Buffer, path: string): x509.X509Crl {
  try {
    return new x509.X509Crl(der);
  } catch (error) {
    throw new PortcullisError('crl-unparseable', `${path}: not a CRL`, { cause: error });
  }
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
