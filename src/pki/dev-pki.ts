/**
 * The development PKI: a root CA, an issuing (intermediate) CA, a RADIUS server certificate and
 * one client certificate per authentication test case (good EC, good RSA, revoked, expired, no
 * matching rule, wrong EKU, unknown CA), plus CRLs for both CA levels and an OpenSSL CA index for
 * `openssl ocsp`. Everything is written as PEM; private keys are unencrypted PKCS#8 with mode 0600.
 *
 * For tests and local runs only: the keys are not protected and the CA keys sit next to the certs.
 * `certs-dev/README.md` says which file serves which test case.
 *
 * @module
 */
import { webcrypto } from 'node:crypto';
import { access, chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PortcullisError } from '../errors.ts';
import { x509 } from './x509.ts';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Certificates start one hour in the past, so small clock skew does not make them "not yet valid". */
const BACKDATE_MS = HOUR_MS;
const ROOT_DAYS = 3650;
const INTERMEDIATE_DAYS = 1825;
/** 397 days: the longest leaf lifetime browsers accept, kept here out of habit. */
const LEAF_DAYS = 397;
const CRL_DAYS = 7;
/** `ensureDevPki` regenerates when a CRL or a certificate meant to be valid ends within this margin. */
const FRESHNESS_MARGIN_MS = DAY_MS;
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 60_000;
const MANIFEST_VERSION = 1;

/** Organization of every dev subject. */
const ORG = 'Portcullis Test';
/** Default DNS name of the RADIUS server certificate. */
export const DEFAULT_SERVER_DNS_NAME = 'radius.portcullis.test';

/** The client certificates, one per authentication test case (file base names). */
export const DEV_CLIENT_NAMES = [
  'client-ec',
  'client-rsa',
  'client-revoked',
  'client-expired',
  'client-guest',
  'client-noeku',
  'client-unknown-ca',
] as const;

/** One of {@link DEV_CLIENT_NAMES}. */
export type DevClientName = (typeof DEV_CLIENT_NAMES)[number];

/** A CA: its certificate and its private key. */
export interface DevPkiCaPaths {
  /** The CA certificate alone (PEM). */
  readonly cert: string;
  /** Its private key (PKCS#8 PEM, mode 0600). */
  readonly key: string;
}

/** An end-entity identity (server or client). */
export interface DevPkiLeafPaths {
  /** The leaf followed by its issuing intermediate (PEM chain, what a peer sends). */
  readonly cert: string;
  /** The leaf alone (PEM), e.g. for eapol_test `client_cert`. */
  readonly leaf: string;
  /** Its private key (PKCS#8 PEM, mode 0600). */
  readonly key: string;
}

/** Where each file of the development PKI lives; every path is absolute. */
export interface DevPkiPaths {
  /** The output directory. */
  readonly dir: string;
  /** `manifest.json`: files, subjects, serials, validity, generation time. Written last. */
  readonly manifest: string;
  /** `root-ca.pem` / `root-ca.key`: "Portcullis Dev Root CA", the trust anchor. */
  readonly root: DevPkiCaPaths;
  /** `intermediate.pem` / `intermediate.key`: "Portcullis Dev Issuing CA", issues server and clients. */
  readonly intermediate: DevPkiCaPaths;
  /** `ca-chain.pem`: intermediate then root. */
  readonly caChain: string;
  /** `root.crl.pem`: the root's (empty) CRL. */
  readonly rootCrl: string;
  /** `intermediate.crl.pem`: the intermediate's CRL, listing `client-revoked`. */
  readonly intermediateCrl: string;
  /** `intermediate-index.txt`: OpenSSL CA database of the intermediate, for `openssl ocsp -index`. */
  readonly ocspIndex: string;
  /** `unrelated-ca.pem` / `unrelated-ca.key`: "Unrelated Root CA", issuer of `client-unknown-ca` only. */
  readonly unrelatedCa: DevPkiCaPaths;
  /** `server.pem` (leaf + intermediate), `server-leaf.pem`, `server.key`. */
  readonly server: DevPkiLeafPaths;
  /** `<name>.pem` (leaf + issuing CA), `<name>-leaf.pem`, `<name>.key` per client. */
  readonly clients: Readonly<Record<DevClientName, DevPkiLeafPaths>>;
}

/** Options of {@link generateDevPki}. */
export interface GenerateDevPkiOptions {
  /** CN and SAN dNSName of the server certificate; default {@link DEFAULT_SERVER_DNS_NAME}. */
  readonly serverDnsName?: string;
  /** The generation time every validity period is computed from; default the current time. */
  readonly now?: Date;
}

/** One certificate as listed in `manifest.json`. */
export interface DevPkiManifestCert {
  /** `root-ca`, `intermediate`, `unrelated-ca`, `server` or a {@link DevClientName}. */
  readonly name: string;
  /** File of the certificate alone, relative to the output directory. */
  readonly file: string;
  readonly subject: string;
  readonly issuer: string;
  /** Serial number, lower-case hex. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly keyAlgorithm: KeyKind;
  /** What the certificate is for in the tests. */
  readonly purpose: string;
}

/** One CRL as listed in `manifest.json`. */
export interface DevPkiManifestCrl {
  readonly file: string;
  readonly issuer: string;
  readonly crlNumber: number;
  readonly thisUpdate: string;
  readonly nextUpdate: string;
  /** Revoked serials, lower-case hex. */
  readonly revokedSerials: readonly string[];
}

/** The content of `manifest.json`. */
export interface DevPkiManifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly generatedAt: string;
  readonly serverDnsName: string;
  /** Every file written, relative to the output directory (the manifest itself excluded). */
  readonly files: readonly string[];
  readonly certificates: readonly DevPkiManifestCert[];
  readonly crls: readonly DevPkiManifestCrl[];
  /** The earliest time a CRL or a certificate meant to be valid stops being so. */
  readonly freshUntil: string;
}

type KeyKind = 'ec-p256' | 'rsa-2048';

const KEY_ALGORITHMS = {
  'ec-p256': {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
  'rsa-2048': {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  },
} as const;

/** A certificate together with the key pair it certifies. */
interface Issued {
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly kind: KeyKind;
}

/** How one client certificate differs from the others. */
interface ClientSpec {
  readonly name: DevClientName;
  readonly cn: string;
  readonly ou: string;
  /** SAN rfc822Name; the SAN UPN is the same local part at `ad.portcullis.test`. */
  readonly email: string;
  readonly kind: KeyKind;
  readonly ekus: readonly string[];
  readonly issuer: 'intermediate' | 'unrelated';
  readonly expired?: true;
  readonly revoked?: true;
  readonly purpose: string;
}

const CLIENT_AUTH = [x509.ExtendedKeyUsage.clientAuth] as const;

const CLIENT_SPECS: readonly ClientSpec[] = [
  {
    name: 'client-ec',
    cn: 'laptop-ec.portcullis.test',
    ou: 'Staff',
    email: 'alice@portcullis.test',
    kind: 'ec-p256',
    ekus: CLIENT_AUTH,
    issuer: 'intermediate',
    purpose: 'accept: valid EC client, OU Staff',
  },
  {
    name: 'client-rsa',
    cn: 'laptop-rsa.portcullis.test',
    ou: 'Students',
    email: 'bob@portcullis.test',
    kind: 'rsa-2048',
    ekus: CLIENT_AUTH,
    issuer: 'intermediate',
    purpose: 'accept: valid RSA client, OU Students',
  },
  {
    name: 'client-revoked',
    cn: 'revoked.portcullis.test',
    ou: 'Staff',
    email: 'mallory@portcullis.test',
    kind: 'ec-p256',
    ekus: CLIENT_AUTH,
    issuer: 'intermediate',
    revoked: true,
    purpose: 'reject: listed on intermediate.crl.pem (and revoked in intermediate-index.txt)',
  },
  {
    name: 'client-expired',
    cn: 'expired.portcullis.test',
    ou: 'Staff',
    email: 'dave@portcullis.test',
    kind: 'ec-p256',
    ekus: CLIENT_AUTH,
    issuer: 'intermediate',
    expired: true,
    purpose: 'reject: expired (notAfter one year ago)',
  },
  {
    name: 'client-guest',
    cn: 'guest.portcullis.test',
    ou: 'Guests',
    email: 'guest@portcullis.test',
    kind: 'ec-p256',
    ekus: CLIENT_AUTH,
    issuer: 'intermediate',
    purpose: 'reject: valid chain but no rule matches OU Guests',
  },
  {
    name: 'client-noeku',
    cn: 'noeku.portcullis.test',
    ou: 'Staff',
    email: 'erin@portcullis.test',
    kind: 'ec-p256',
    ekus: [x509.ExtendedKeyUsage.serverAuth],
    issuer: 'intermediate',
    purpose: 'reject: EKU serverAuth only, no clientAuth',
  },
  {
    name: 'client-unknown-ca',
    cn: 'unknown-ca.portcullis.test',
    ou: 'Staff',
    email: 'frank@portcullis.test',
    kind: 'ec-p256',
    ekus: CLIENT_AUTH,
    issuer: 'unrelated',
    purpose: 'reject: issued by unrelated-ca.pem, which the server does not trust',
  },
];

/**
 * The paths of the development PKI files in `dir` (nothing is read or written).
 *
 * @param dir - The output directory; made absolute.
 */
export function devPkiPaths(dir: string): DevPkiPaths {
  const abs = resolve(dir);
  const file = (name: string): string => join(abs, name);
  const ca = (name: string): DevPkiCaPaths => ({ cert: file(`${name}.pem`), key: file(`${name}.key`) });
  const leaf = (name: string): DevPkiLeafPaths => ({
    cert: file(`${name}.pem`),
    leaf: file(`${name}-leaf.pem`),
    key: file(`${name}.key`),
  });
  const clients = Object.fromEntries(DEV_CLIENT_NAMES.map((name) => [name, leaf(name)])) as Record<
    DevClientName,
    DevPkiLeafPaths
  >;
  return {
    dir: abs,
    manifest: file('manifest.json'),
    root: ca('root-ca'),
    intermediate: ca('intermediate'),
    caChain: file('ca-chain.pem'),
    rootCrl: file('root.crl.pem'),
    intermediateCrl: file('intermediate.crl.pem'),
    ocspIndex: file('intermediate-index.txt'),
    unrelatedCa: ca('unrelated-ca'),
    server: leaf('server'),
    clients,
  };
}

/** Every file of the PKI except the manifest, in a stable order. */
function dataFiles(paths: DevPkiPaths): string[] {
  const identities = [paths.server, ...DEV_CLIENT_NAMES.map((name) => paths.clients[name])];
  return [
    paths.root.cert,
    paths.root.key,
    paths.intermediate.cert,
    paths.intermediate.key,
    paths.caChain,
    paths.rootCrl,
    paths.intermediateCrl,
    paths.ocspIndex,
    paths.unrelatedCa.cert,
    paths.unrelatedCa.key,
    ...identities.flatMap((id) => [id.cert, id.leaf, id.key]),
  ];
}

/**
 * Generates a fresh development PKI into `dir` (created if needed), overwriting what is there.
 * `manifest.json` is written last, so its presence means the set is complete.
 *
 * @param dir - The output directory.
 * @param opts - Server DNS name and generation time.
 * @returns The paths of the files written.
 */
export async function generateDevPki(dir: string, opts: GenerateDevPkiOptions = {}): Promise<DevPkiPaths> {
  const paths = devPkiPaths(dir);
  const now = opts.now ?? new Date();
  const serverDnsName = opts.serverDnsName ?? DEFAULT_SERVER_DNS_NAME;
  const start = new Date(now.getTime() - BACKDATE_MS);
  const days = (n: number): Date => new Date(now.getTime() + n * DAY_MS);
  await mkdir(paths.dir, { recursive: true });

  const listed: DevPkiManifestCert[] = [];
  const record = (name: string, file: string, issued: Issued, purpose: string): void => {
    const { cert } = issued;
    listed.push({
      name,
      file: basename(file),
      subject: cert.subject,
      issuer: cert.issuer,
      serial: cert.serialNumber,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      keyAlgorithm: issued.kind,
      purpose,
    });
  };

  const root = await issue(
    { subject: `O=${ORG}, CN=Portcullis Dev Root CA`, kind: 'ec-p256', notBefore: start, notAfter: days(ROOT_DAYS) },
    caExtensions(undefined),
  );
  const intermediate = await issue(
    {
      subject: `O=${ORG}, CN=Portcullis Dev Issuing CA`,
      kind: 'ec-p256',
      notBefore: start,
      notAfter: days(INTERMEDIATE_DAYS),
    },
    // digitalSignature too, so the CA itself may sign OCSP responses.
    caExtensions(0, x509.KeyUsageFlags.digitalSignature),
    root,
  );
  const unrelated = await issue(
    { subject: `O=Unrelated Org, CN=Unrelated Root CA`, kind: 'ec-p256', notBefore: start, notAfter: days(ROOT_DAYS) },
    caExtensions(undefined),
  );
  for (const [name, issued, caPaths, purpose] of [
    ['root-ca', root, paths.root, 'trust anchor'],
    ['intermediate', intermediate, paths.intermediate, 'issuing CA of the server and the clients'],
    ['unrelated-ca', unrelated, paths.unrelatedCa, 'untrusted CA of client-unknown-ca'],
  ] as const) {
    await writePem(caPaths.cert, pemCert(issued.cert));
    await writeKey(caPaths.key, issued);
    record(name, caPaths.cert, issued, purpose);
  }
  await writePem(paths.caChain, pemCert(intermediate.cert) + pemCert(root.cert));

  const leafValidity = { notBefore: start, notAfter: days(LEAF_DAYS) };
  const server = await issue(
    { subject: `O=${ORG}, OU=RADIUS, CN=${serverDnsName}`, kind: 'ec-p256', ...leafValidity },
    leafExtensions(x509.KeyUsageFlags.digitalSignature, [x509.ExtendedKeyUsage.serverAuth], [
      { type: 'dns', value: serverDnsName },
    ]),
    intermediate,
  );
  await writeIdentity(paths.server, server, intermediate);
  record('server', paths.server.leaf, server, `RADIUS/RadSec server certificate for ${serverDnsName}`);

  const revoked: string[] = [];
  const indexed: Issued[] = [server];
  for (const spec of CLIENT_SPECS) {
    const issuer = spec.issuer === 'intermediate' ? intermediate : unrelated;
    const client = await issueClient(spec, issuer, spec.expired ? { notBefore: days(-730), notAfter: days(-365) } : leafValidity);
    // A client of the unrelated root is sent alone: there is no intermediate in that PKI.
    await writeIdentity(paths.clients[spec.name], client, spec.issuer === 'intermediate' ? intermediate : undefined);
    record(spec.name, paths.clients[spec.name].leaf, client, spec.purpose);
    if (spec.revoked) revoked.push(client.cert.serialNumber);
    if (spec.issuer === 'intermediate') indexed.push(client);
  }

  const crlTimes = { thisUpdate: now, nextUpdate: days(CRL_DAYS) };
  const crls = [
    await writeCrl(paths.rootCrl, root, [], crlTimes),
    await writeCrl(paths.intermediateCrl, intermediate, revoked, crlTimes),
  ];
  await writeFile(paths.ocspIndex, ocspIndex(indexed, new Set(revoked), now));

  const meantValid = listed.filter((c) => Date.parse(c.notAfter) > now.getTime()).map((c) => Date.parse(c.notAfter));
  const manifest: DevPkiManifest = {
    version: MANIFEST_VERSION,
    generatedAt: now.toISOString(),
    serverDnsName,
    files: dataFiles(paths).map((f) => basename(f)),
    certificates: listed,
    crls,
    freshUntil: new Date(Math.min(crlTimes.nextUpdate.getTime(), ...meantValid)).toISOString(),
  };
  await writeFile(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return paths;
}

/**
 * Makes sure `dir` holds a complete and current development PKI: generates one (with the default
 * server name) when `manifest.json` or any file is missing, or when a CRL or a certificate meant to
 * be valid is about to lapse. Concurrent callers, in this process or others (parallel test files),
 * are serialised by a lock directory next to `dir`, so they never mix two generations.
 *
 * @param dir - The output directory.
 * @returns Whether a new PKI was generated, and the paths.
 */
export async function ensureDevPki(dir: string): Promise<{ created: boolean; paths: DevPkiPaths }> {
  const paths = devPkiPaths(dir);
  if (await isCurrent(paths)) return { created: false, paths };
  await mkdir(dirname(paths.dir), { recursive: true });
  return withLock(`${paths.dir}.lock`, async () => {
    if (await isCurrent(paths)) return { created: false, paths };
    await generateDevPki(paths.dir);
    return { created: true, paths };
  });
}

/** Whether every file exists and the manifest says nothing lapses within the freshness margin. */
async function isCurrent(paths: DevPkiPaths): Promise<boolean> {
  let manifest: Partial<DevPkiManifest>;
  try {
    manifest = JSON.parse(await readFile(paths.manifest, 'utf8')) as Partial<DevPkiManifest>;
    await Promise.all(dataFiles(paths).map((f) => access(f)));
  } catch {
    return false;
  }
  const freshUntil = Date.parse(manifest.freshUntil ?? '');
  return manifest.version === MANIFEST_VERSION && freshUntil - FRESHNESS_MARGIN_MS > Date.now();
}

/** Runs `fn` holding an exclusive lock (a directory); a lock older than LOCK_STALE_MS is broken. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = await stat(lockDir).catch(() => undefined);
      if (held !== undefined && Date.now() - held.mtimeMs > LOCK_STALE_MS) {
        await rm(lockDir, { recursive: true, force: true });
      } else if (Date.now() > deadline) {
        throw new PortcullisError('dev-pki-lock-timeout', `timed out waiting for ${lockDir}`, { cause: err });
      } else {
        await sleep(50);
      }
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** Subject, key type and validity of a certificate to issue. */
interface IssueSpec {
  readonly subject: string;
  readonly kind: KeyKind;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Generates a key pair and a certificate for it, signed by `issuer` or self-signed when there is
 * none. Adds SKI (and AKI when issued) to the profile's extensions.
 */
async function issue(spec: IssueSpec, extensions: readonly x509.Extension[], issuer?: Issued): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHMS[spec.kind].generate, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const signer = issuer ?? { keys, kind: spec.kind };
  const publicKey = keys.publicKey;
  const ids: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(publicKey)];
  if (issuer !== undefined) {
    ids.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: spec.subject,
    // The issuer's encoded Name, so the issuer field matches its subject byte for byte.
    issuer: issuer?.cert.subjectName ?? spec.subject,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: KEY_ALGORITHMS[signer.kind].sign,
    extensions: [...extensions, ...ids],
  });
  return { cert, keys, kind: spec.kind };
}

/** Issues one client certificate from its spec (the only place client profiles are built). */
function issueClient(
  spec: ClientSpec,
  issuer: Issued,
  validity: { readonly notBefore: Date; readonly notAfter: Date },
): Promise<Issued> {
  const usage =
    spec.kind === 'rsa-2048'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  const localPart = spec.email.slice(0, spec.email.indexOf('@'));
  return issue(
    { subject: `O=${ORG}, OU=${spec.ou}, CN=${spec.cn}`, kind: spec.kind, ...validity },
    leafExtensions(usage, spec.ekus, [
      { type: 'email', value: spec.email },
      { type: 'url', value: `urn:device:${spec.name}` },
      // Microsoft UPN otherName (OID 1.3.6.1.4.1.311.20.2.3), as AD-issued machine/user certs carry.
      { type: 'upn', value: `${localPart}@ad.portcullis.test` },
    ]),
    issuer,
  );
}

/** basicConstraints CA (critical) and keyUsage keyCertSign + cRLSign (critical). */
function caExtensions(pathLength: number | undefined, extraUsage = 0): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | extraUsage, true),
  ];
}

/** basicConstraints CA:FALSE, keyUsage (critical), EKU and SAN of an end-entity certificate. */
function leafExtensions(
  usage: number,
  ekus: readonly string[],
  san: readonly x509.JsonGeneralName[],
): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([...ekus]),
    new x509.SubjectAlternativeNameExtension([...san]),
  ];
}

/** A random positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets, positive), as hex. */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // Clear the sign bit and set the next one: positive, and exactly 16 octets once DER-encoded.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

/** Signs and writes a CRL (PEM label `X509 CRL`, as OpenSSL expects) with CRL number 1. */
async function writeCrl(
  file: string,
  issuer: Issued,
  revokedSerials: readonly string[],
  times: { readonly thisUpdate: Date; readonly nextUpdate: Date },
): Promise<DevPkiManifestCrl> {
  const crlNumber = 1;
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subjectName,
    thisUpdate: times.thisUpdate,
    nextUpdate: times.nextUpdate,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: KEY_ALGORITHMS[issuer.kind].sign,
    extensions: [
      // RFC 5280 §5.2.2 CRL number (2.5.29.20): INTEGER; §5.2.1 AKI.
      new x509.Extension('2.5.29.20', false, new Uint8Array([0x02, 0x01, crlNumber])),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
    entries: revokedSerials.map((serialNumber) => ({
      serialNumber,
      revocationDate: times.thisUpdate,
      reason: x509.X509CrlReason.keyCompromise,
    })),
  });
  await writePem(file, `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`);
  return {
    file: basename(file),
    issuer: issuer.cert.subject,
    crlNumber,
    thisUpdate: times.thisUpdate.toISOString(),
    nextUpdate: times.nextUpdate.toISOString(),
    revokedSerials,
  };
}

/**
 * The OpenSSL CA database (`index.txt`) of the intermediate, for `openssl ocsp -index`: one line per
 * certificate, tab-separated: status (V/R), expiry, revocation time, serial (upper-case hex),
 * file name (`unknown`), subject in OpenSSL's one-line form.
 */
function ocspIndex(issued: readonly Issued[], revoked: ReadonlySet<string>, now: Date): string {
  return issued
    .map(({ cert }) => {
      const isRevoked = revoked.has(cert.serialNumber);
      const subject = cert.subjectName
        .toJSON()
        .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((v) => `/${type}=${v}`)))
        .join('');
      return [
        isRevoked ? 'R' : 'V',
        opensslTime(cert.notAfter),
        isRevoked ? `${opensslTime(now)},keyCompromise` : '',
        cert.serialNumber.toUpperCase(),
        'unknown',
        subject,
      ].join('\t');
    })
    .map((line) => `${line}\n`)
    .join('');
}

/** `YYMMDDHHMMSSZ`, the time format of OpenSSL's CA database. */
function opensslTime(date: Date): string {
  return `${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`;
}

function pemCert(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

/** Writes the leaf alone, the leaf followed by its issuing CA (when any), and the key. */
async function writeIdentity(paths: DevPkiLeafPaths, issued: Issued, chainCa: Issued | undefined): Promise<void> {
  const leaf = pemCert(issued.cert);
  await writePem(paths.leaf, leaf);
  await writePem(paths.cert, chainCa === undefined ? leaf : leaf + pemCert(chainCa.cert));
  await writeKey(paths.key, issued);
}

/** Writes the private key as unencrypted PKCS#8 PEM, readable by the owner only. */
async function writeKey(file: string, issued: Issued): Promise<void> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', issued.keys.privateKey);
  await writeFile(file, `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`, { mode: 0o600 });
  // The mode of writeFile applies only to a new file: force it when overwriting.
  await chmod(file, 0o600);
}

function writePem(file: string, pem: string): Promise<void> {
  return writeFile(file, pem, { mode: 0o644 });
}
