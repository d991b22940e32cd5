/**
 * RadSec peer certificates made with the openssl CLI (`openssl ca`) and signed by the dev PKI's
 * issuing CA, whose key sits next to its certificate: peers named by SAN dNSName, iPAddress or
 * NAIRealm otherName (RFC 7585 §2.2), and CRLs (`openssl ca -gencrl`) that revoke them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevPkiPaths } from '../../src/pki/dev-pki.ts';

/** One issued peer identity. */
export interface PeerIdentityFiles {
  /** The leaf alone (PEM). */
  readonly leaf: string;
  /** The leaf followed by the dev issuing CA (PEM): what a peer sends. */
  readonly chain: string;
  /** Its private key (PEM). */
  readonly key: string;
}

/** What to put in a peer certificate. */
export interface PeerCertificateSpec {
  /** Subject in openssl's form, e.g. `/O=Portcullis Test/CN=proxy-dns`. */
  readonly subject: string;
  /** The subjectAltName value in openssl's form, e.g. `DNS:proxy.example.test,IP:127.0.0.1`. */
  readonly subjectAltName?: string;
}

/**
 * An `openssl ca` database over the dev issuing CA, in a fresh temporary directory: every peer
 * certificate issued here is known to it, and may be revoked and listed on a CRL.
 */
export class PeerCertificateAuthority {
  readonly #dir: string;
  readonly #config: string;
  readonly #pki: DevPkiPaths;

  private constructor(dir: string, pki: DevPkiPaths) {
    this.#dir = dir;
    this.#pki = pki;
    this.#config = join(dir, 'ca.cnf');
    mkdirSync(join(dir, 'issued'));
    writeFileSync(join(dir, 'index.txt'), '');
    // A random first serial: no clash with the dev PKI's serials on any CRL.
    writeFileSync(join(dir, 'serial'), `7F${randomBytes(8).toString('hex').toUpperCase()}\n`);
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    writeFileSync(
      this.#config,
      [
        '[ ca ]',
        'default_ca = ca_default',
        '[ ca_default ]',
        `dir = ${dir}`,
        `database = ${dir}/index.txt`,
        `new_certs_dir = ${dir}/issued`,
        `serial = ${dir}/serial`,
        `crlnumber = ${dir}/crlnumber`,
        'default_md = sha256',
        'default_days = 30',
        'default_crl_days = 7',
        'policy = policy_any',
        'unique_subject = no',
        '[ policy_any ]',
        'organizationName = optional',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
  }

  /** Opens a database in a temporary directory that `t.teardown` removes. */
  static open(t: { teardown: (fn: () => unknown) => void }, pki: DevPkiPaths): PeerCertificateAuthority {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-radsec-ca-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    return new PeerCertificateAuthority(dir, pki);
  }

  /** Issues an EC P-256 certificate with EKU clientAuth (and serverAuth: radsecproxy uses it both ways). */
  issue(name: string, spec: PeerCertificateSpec): PeerIdentityFiles {
    const at = (suffix: string) => join(this.#dir, `${name}${suffix}`);
    const extensions = [
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = clientAuth, serverAuth',
      ...(spec.subjectAltName === undefined ? [] : [`subjectAltName = ${spec.subjectAltName}`]),
    ];
    writeFileSync(at('.ext'), `${extensions.join('\n')}\n`);
    this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('.key')]);
    this.#openssl(['req', '-new', '-key', at('.key'), '-out', at('.csr'), '-subj', spec.subject]);
    this.#openssl([...this.#ca(), '-in', at('.csr'), '-out', at('-leaf.pem'), '-notext', '-extfile', at('.ext')]);
    writeFileSync(at('.pem'), Buffer.concat([readFileSync(at('-leaf.pem')), readFileSync(this.#pki.intermediate.cert)]));
    return { leaf: at('-leaf.pem'), chain: at('.pem'), key: at('.key') };
  }

  /** Marks a certificate (issued here or not, but by the dev issuing CA) revoked in the database. */
  revoke(leaf: string): void {
    this.#openssl([...this.#ca(), '-revoke', leaf, '-crl_reason', 'keyCompromise']);
  }

  /** Writes a CRL of the dev issuing CA listing what {@link revoke} revoked; returns its path. */
  writeCrl(name: string): string {
    const path = join(this.#dir, `${name}.crl.pem`);
    this.#openssl([...this.#ca(), '-gencrl', '-out', path]);
    return path;
  }

  #ca(): string[] {
    return ['ca', '-batch', '-config', this.#config, '-cert', this.#pki.intermediate.cert, '-keyfile', this.#pki.intermediate.key];
  }

  #openssl(args: readonly string[]): void {
    execFileSync('openssl', args, { stdio: 'pipe' });
  }
}
