/**
 * An independent PKI made only with the openssl CLI (`openssl req` / `openssl ca`), so that the
 * server is tested on certificates, CRLs and subjects that our own generator did not shape:
 * an RSA root, an EC P-384 intermediate, an RSA server, EC and RSA clients, a revoked client on a
 * CRL from `openssl ca -gencrl`, an expired client and a client of an unrelated CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A client certificate of the independent PKI. */
export interface OpensslClient {
  /** Leaf only. */
  readonly leaf: string;
  /** Leaf followed by the intermediate. */
  readonly chain: string;
  readonly key: string;
}

/** Paths of the independent PKI. */
export interface OpensslPki {
  readonly rootCert: string;
  readonly intermediateCert: string;
  readonly intermediateCrl: string;
  readonly serverChain: string;
  readonly serverKey: string;
  readonly clients: Readonly<Record<'engineering-ec' | 'sales-rsa' | 'revoked' | 'expired' | 'outsider', OpensslClient>>;
}

// The `openssl ca` configuration of the CA in `dir`; `extra` appends extension sections.
// `$ENV::SAN_EMAIL` is the client's email SAN.
const caConfig = (dir: string, extra: string): string => `
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/issued
serial = ${dir}/serial
crlnumber = ${dir}/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 7
policy = policy_any
copy_extensions = none
unique_subject = no
[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional
[ intermediate ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ server ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:radius.independent.test
[ client ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = email:$ENV::SAN_EMAIL
${extra}`;

const NO_EMAIL = 'nobody@independent.test';

/** Runs the openssl CLI; `env` is added to the environment (SAN_EMAIL defaults to a placeholder). */
export function openssl(args: readonly string[], env: Record<string, string> = {}): void {
  execFileSync('openssl', args, { stdio: 'pipe', env: { ...process.env, SAN_EMAIL: NO_EMAIL, ...env } });
}

/** Creates an `openssl ca` directory (index, serial, CRL number, config) under `root`. */
export function caDir(root: string, name: string, extraConfig = ''): { dir: string; config: string } {
  const dir = join(root, name);
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  const config = join(dir, 'ca.cnf');
  writeFileSync(config, caConfig(dir, extraConfig));
  return { dir, config };
}

/** Writes a new private key (RSA 2048, EC P-256 or P-384) to `path`. */
export function newKey(path: string, kind: 'rsa' | 'ec-256' | 'ec-384'): void {
  const args = kind === 'rsa' ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind === 'ec-256' ? 'P-256' : 'P-384'}`];
  openssl(['genpkey', ...args, '-out', path]);
}

/** A CA that issues with `openssl ca`: its configuration (from {@link caDir}), certificate and key. */
export interface OpensslCa {
  readonly config: string;
  readonly cert: string;
  readonly key: string;
}

/** What {@link issueCertificate} issues: files are named after `name` in the PKI directory. */
export interface CertificateRequest {
  readonly name: string;
  readonly subject: string;
  readonly kind: 'rsa' | 'ec-256';
  /** Extension section of the CA configuration. */
  readonly extensions: string;
  /** More `openssl ca` arguments (dates). */
  readonly extra?: readonly string[];
  /** Email SAN of a client. */
  readonly email?: string;
}

/**
 * Issues a certificate with `openssl ca` in `root`: a new key, a CSR, the leaf and a chain file
 * (the leaf followed by the CA certificate).
 */
export function issueCertificate(root: string, ca: OpensslCa, request: CertificateRequest): OpensslClient {
  const at = (suffix: string) => join(root, `${request.name}${suffix}`);
  newKey(at('.key'), request.kind);
  openssl(['req', '-new', '-key', at('.key'), '-out', at('.csr'), '-subj', request.subject]);
  openssl(['ca', '-batch', '-config', ca.config, '-cert', ca.cert, '-keyfile', ca.key, '-extensions', request.extensions, '-in', at('.csr'), '-out', at('.pem'), '-notext', ...(request.extra ?? [])],
    { SAN_EMAIL: request.email ?? NO_EMAIL });
  writeFileSync(at('-chain.pem'), Buffer.concat([readFileSync(at('.pem')), readFileSync(ca.cert)]));
  return { leaf: at('.pem'), chain: at('-chain.pem'), key: at('.key') };
}

/** Builds the PKI in a fresh temporary directory (a few seconds: RSA key generation). */
export function buildOpensslPki(): OpensslPki {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-openssl-pki-'));
  const at = (name: string) => join(root, name);
  const rootCa = caDir(root, 'root-ca');
  const issuing = caDir(root, 'issuing-ca');

  newKey(at('root.key'), 'rsa');
  openssl(['req', '-x509', '-new', '-key', at('root.key'), '-out', at('root.pem'), '-days', '3650', '-subj', '/C=NL/O=Independent Test/CN=Independent Root',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', at('intermediate.key'), '-out', at('intermediate.csr'), '-subj', '/C=NL/O=Independent Test/CN=Independent Issuing CA']);
  openssl(['ca', '-batch', '-config', rootCa.config, '-cert', at('root.pem'), '-keyfile', at('root.key'), '-extensions', 'intermediate', '-days', '1825', '-in', at('intermediate.csr'), '-out', at('intermediate.pem'), '-notext']);

  const issuingCa: OpensslCa = { config: issuing.config, cert: at('intermediate.pem'), key: at('intermediate.key') };
  const issue = (name: string, subject: string, kind: 'rsa' | 'ec-256', extensions: 'server' | 'client', extra: readonly string[] = [], email?: string) =>
    issueCertificate(root, issuingCa, { name, subject, kind, extensions, extra, email });
  const server = issue('server', '/O=Independent Test/CN=radius.independent.test', 'rsa', 'server');
  const engineering = issue('engineering-ec', '/O=Independent Test/OU=Engineering/CN=ws-0042', 'ec-256', 'client', [], 'dev@independent.test');
  const sales = issue('sales-rsa', '/O=Independent Test/OU=Sales/CN=ws-0077', 'rsa', 'client', [], 'sales@independent.test');
  const revoked = issue('revoked', '/O=Independent Test/OU=Engineering/CN=ws-lost', 'ec-256', 'client');
  const expired = issue('expired', '/O=Independent Test/OU=Engineering/CN=ws-old', 'ec-256', 'client', ['-startdate', '20200101000000Z', '-enddate', '20210101000000Z']);
  openssl(['ca', '-batch', '-config', issuing.config, '-cert', at('intermediate.pem'), '-keyfile', at('intermediate.key'), '-revoke', revoked.leaf, '-crl_reason', 'keyCompromise']);
  openssl(['ca', '-batch', '-config', issuing.config, '-cert', at('intermediate.pem'), '-keyfile', at('intermediate.key'), '-gencrl', '-out', at('intermediate.crl.pem')]);

  // A client of an unrelated CA with the same subject layout: only the chain tells it apart.
  newKey(at('outsider-ca.key'), 'ec-256');
  openssl(['req', '-x509', '-new', '-key', at('outsider-ca.key'), '-out', at('outsider-ca.pem'), '-days', '3650', '-subj', '/O=Independent Test/CN=Independent Issuing CA',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  newKey(at('outsider.key'), 'ec-256');
  openssl(['req', '-new', '-key', at('outsider.key'), '-out', at('outsider.csr'), '-subj', '/O=Independent Test/OU=Engineering/CN=ws-0042']);
  writeFileSync(at('outsider.ext'), 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', at('outsider.csr'), '-CA', at('outsider-ca.pem'), '-CAkey', at('outsider-ca.key'), '-CAcreateserial', '-days', '365', '-out', at('outsider.pem'),
    '-extfile', at('outsider.ext')]);
  execFileSync('sh', ['-c', `cat "${at('outsider.pem')}" "${at('outsider-ca.pem')}" > "${at('outsider-chain.pem')}"`]);

  return {
    rootCert: at('root.pem'),
    intermediateCert: at('intermediate.pem'),
    intermediateCrl: at('intermediate.crl.pem'),
    serverChain: server.chain,
    serverKey: server.key,
    clients: {
      'engineering-ec': engineering,
      'sales-rsa': sales,
      revoked,
      expired,
      outsider: { leaf: at('outsider.pem'), chain: at('outsider-chain.pem'), key: at('outsider.key') },
    },
  };
}
