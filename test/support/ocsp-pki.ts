/**
 * A PKI for OCSP tests made only with the openssl CLI: an EC root CA whose `openssl ca` index is
 * what `openssl ocsp` answers from, an EAP server certificate, a delegated OCSP signer, a "rogue"
 * signer without the OCSPSigning EKU, and three clients: `good`, `revoked` (revoked in the index
 * only: the CRL was written before the revocation) and `unknown` (signed by the root key outside
 * `openssl ca`, so absent from the index).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caDir, issueCertificate, newKey, openssl, type OpensslCa, type OpensslClient } from './openssl-pki.ts';

/**
 * Who signs the responses of `openssl ocsp`: the CA itself; a responder it issued with
 * id-kp-OCSPSigning (EC or RSA); one it issued without (`rogue`); or an `impostor` with
 * id-kp-OCSPSigning from another CA that bears the root's name.
 */
export type OcspSignerKind = 'issuer' | 'delegated' | 'delegated-rsa' | 'rogue' | 'impostor';

/** A certificate and its private key. */
export interface CertAndKey {
  readonly cert: string;
  readonly key: string;
}

/** Paths of the OCSP PKI. */
export interface OcspPki {
  /** The temporary directory that holds everything. */
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  /** The root's `openssl ca` database, the responder's `-index`. */
  readonly index: string;
  /** The root's CRL (PEM, `X509 CRL` label), written before `revoked` was revoked: it lists nothing. */
  readonly crl: string;
  readonly serverCert: string;
  /** Server certificate followed by the root. */
  readonly serverChain: string;
  readonly serverKey: string;
  /** See {@link OcspSignerKind}. */
  readonly signers: Readonly<Record<OcspSignerKind, CertAndKey>>;
  readonly clients: Readonly<Record<'good' | 'revoked' | 'unknown', OpensslClient>>;
}

/** Where the clients point: their Authority Information Access and CRL Distribution Points. */
export interface OcspPkiOptions {
  readonly ocspUrl?: string;
  readonly crlUrl?: string;
}

const ORG = 'Ocsp Test';
/** Serial of the `unknown` client: `openssl ca` numbers from 0x1000, so this one is never in the index. */
const UNKNOWN_SERIAL = '0x0badc0de';

function extensionSections(options: OcspPkiOptions): string {
  const pointers = [
    options.ocspUrl === undefined ? '' : `authorityInfoAccess = OCSP;URI:${options.ocspUrl}`,
    options.crlUrl === undefined ? '' : `crlDistributionPoints = URI:${options.crlUrl}`,
  ].filter((line) => line !== '');
  return `
[ ocsp_client ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = email:$ENV::SAN_EMAIL
${pointers.join('\n')}
[ ocsp_signer ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
[ rogue_signer ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
`;
}

const ROOT_SUBJECT = `/O=${ORG}/CN=Ocsp Test Root`;

function selfSigned(ca: OpensslCa): void {
  newKey(ca.key, 'ec-256');
  openssl(['req', '-x509', '-new', '-key', ca.key, '-out', ca.cert, '-days', '3650', '-subj', ROOT_SUBJECT,
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
}

/** The `openssl ocsp` responder options for the PKI's index, signing as `signer` (nextUpdate in a day). */
export function responderArgs(pki: OcspPki, signer: OcspSignerKind): string[] {
  const { cert, key } = pki.signers[signer];
  return ['-index', pki.index, '-CA', pki.rootCert, '-rsigner', cert, '-rkey', key, '-ndays', '1'];
}

let offlineAnswers = 0;

/**
 * Answers one DER OCSPRequest with `openssl ocsp` offline (`-reqin` / `-respout`, no server),
 * signing as `signer`; `extra` adds responder options (`-resp_key_id`, `-resp_no_certs`, `-rsigopt`).
 */
export function respondOffline(pki: OcspPki, request: Uint8Array, signer: OcspSignerKind, extra: readonly string[] = []): Buffer {
  offlineAnswers += 1;
  const question = join(pki.dir, `offline-${offlineAnswers}.req`);
  const answer = join(pki.dir, `offline-${offlineAnswers}.resp`);
  writeFileSync(question, request);
  openssl(['ocsp', ...responderArgs(pki, signer), ...extra, '-reqin', question, '-respout', answer]);
  return readFileSync(answer);
}

/** Builds the PKI in a fresh temporary directory (about a second). */
export function buildOcspPki(options: OcspPkiOptions = {}): OcspPki {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ocsp-pki-'));
  const at = (name: string) => join(dir, name);
  const rootDir = caDir(dir, 'root-ca', extensionSections(options));
  const root: OpensslCa = { config: rootDir.config, cert: at('root.pem'), key: at('root.key') };

  selfSigned(root);
  // Another CA under the same name: only the signature on its responder certificate tells it apart.
  const impostorCa: OpensslCa = { config: caDir(dir, 'impostor-ca', extensionSections(options)).config, cert: at('impostor-root.pem'), key: at('impostor-root.key') };
  selfSigned(impostorCa);
  const impostor = issueCertificate(dir, impostorCa, { name: 'impostor-signer', subject: `/O=${ORG}/CN=Impostor Responder`, kind: 'ec-256', extensions: 'ocsp_signer' });

  const server = issueCertificate(dir, root, { name: 'server', subject: `/O=${ORG}/CN=radius.independent.test`, kind: 'ec-256', extensions: 'server' });
  const delegated = issueCertificate(dir, root, { name: 'ocsp-signer', subject: `/O=${ORG}/CN=Ocsp Responder`, kind: 'ec-256', extensions: 'ocsp_signer' });
  const delegatedRsa = issueCertificate(dir, root, { name: 'ocsp-signer-rsa', subject: `/O=${ORG}/CN=Ocsp Responder RSA`, kind: 'rsa', extensions: 'ocsp_signer' });
  const rogue = issueCertificate(dir, root, { name: 'rogue-signer', subject: `/O=${ORG}/CN=Rogue Responder`, kind: 'ec-256', extensions: 'rogue_signer' });
  const client = (name: string, ou: string, cn: string) =>
    issueCertificate(dir, root, { name, subject: `/O=${ORG}/OU=${ou}/CN=${cn}`, kind: 'ec-256', extensions: 'ocsp_client', email: `${cn}@ocsp.test` });
  const good = client('good', 'Engineering', 'ws-good');
  const revoked = client('revoked', 'Engineering', 'ws-revoked');

  // The CRL comes before the revocation: `revoked` is revoked in the OCSP index only.
  openssl(['ca', '-batch', '-config', root.config, '-cert', root.cert, '-keyfile', root.key, '-gencrl', '-out', at('root.crl.pem')]);
  openssl(['ca', '-batch', '-config', root.config, '-cert', root.cert, '-keyfile', root.key, '-revoke', revoked.leaf, '-crl_reason', 'keyCompromise']);

  // Signed by the root key with `openssl x509 -req`, which keeps no database: the index never hears of it.
  newKey(at('unknown.key'), 'ec-256');
  openssl(['req', '-new', '-key', at('unknown.key'), '-out', at('unknown.csr'), '-subj', `/O=${ORG}/OU=Engineering/CN=ws-unknown`]);
  openssl(['x509', '-req', '-in', at('unknown.csr'), '-CA', root.cert, '-CAkey', root.key, '-set_serial', UNKNOWN_SERIAL, '-days', '365',
    '-extfile', root.config, '-extensions', 'ocsp_client', '-out', at('unknown.pem')], { SAN_EMAIL: 'ws-unknown@ocsp.test' });
  writeFileSync(at('unknown-chain.pem'), Buffer.concat([readFileSync(at('unknown.pem')), readFileSync(root.cert)]));

  return {
    dir,
    rootCert: root.cert,
    rootKey: root.key,
    index: join(rootDir.dir, 'index.txt'),
    crl: at('root.crl.pem'),
    serverCert: at('server.pem'),
    serverChain: server.chain,
    serverKey: server.key,
    signers: {
      issuer: { cert: root.cert, key: root.key },
      delegated: { cert: delegated.leaf, key: delegated.key },
      'delegated-rsa': { cert: delegatedRsa.leaf, key: delegatedRsa.key },
      rogue: { cert: rogue.leaf, key: rogue.key },
      impostor: { cert: impostor.leaf, key: impostor.key },
    },
    clients: { good, revoked, unknown: { leaf: at('unknown.pem'), chain: at('unknown-chain.pem'), key: at('unknown.key') } },
  };
}

/** The PKI's root and client certificates, parsed. */
export function ocspCertificates(pki: OcspPki): { root: X509Certificate; clients: Readonly<Record<keyof OcspPki['clients'], X509Certificate>> } {
  const certificate = (path: string) => new X509Certificate(readFileSync(path));
  return {
    root: certificate(pki.rootCert),
    clients: { good: certificate(pki.clients.good.leaf), revoked: certificate(pki.clients.revoked.leaf), unknown: certificate(pki.clients.unknown.leaf) },
  };
}
