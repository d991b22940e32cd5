/**
 * Everything built from one configuration: the TLS engine with its secure context, the access
 * policy with its CRLs, the NAS client table and the lifetimes of the PKI. Immutable: a reload
 * builds a new context and swaps it in whole, and conversations in flight keep the one they
 * started with.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.ts';
import { PortcullisError } from '../errors.ts';
import { CrlSet, derBlocks, type LoadedCrl } from '../policy/crl-set.ts';
import { certificateFacts } from '../policy/certificate-facts.ts';
import { AccessPolicy } from '../policy/decide.ts';
import { IdentityLookups, providerCache, type ProviderEntry } from '../policy/identity/identity-lookups.ts';
import { createProvider } from '../policy/identity/providers.ts';
import { RevocationChecker, type RevocationSources } from '../policy/revocation.ts';
import type { TlsSessionStore } from '../store/ports.ts';
import { TlsEngine } from '../tls/engine.ts';
import { ClientTable } from './client-table.ts';
import type { PeerIdentity, RadsecTlsSettings } from './radsec-listener.ts';
import { peerIdentifier } from './radsec-peers.ts';

/** What a certificate of the configured PKI is to the server. */
export type CertificateKind = 'server' | 'trust-anchor' | 'intermediate';

/** The validity end of one configured certificate, for the expiry gauges and warnings. */
export interface CertificateLifetime {
  readonly kind: CertificateKind;
  /** One-line subject, e.g. `O=Example, CN=radius.example.org`. */
  readonly subject: string;
  readonly notAfter: Date;
}

/** RadSec as one configuration sets it up (RFC 6614). */
export interface RadsecContext {
  readonly tls: RadsecTlsSettings;
  readonly identify: (chain: readonly X509Certificate[]) => PeerIdentity;
}

/** The configuration and what was built from it. */
export interface ServerContext {
  readonly config: Config;
  /** Undefined when RadSec does not listen. */
  readonly radsec: RadsecContext | undefined;
  readonly engine: TlsEngine;
  readonly policy: AccessPolicy;
  readonly clients: ClientTable;
  readonly certificates: readonly CertificateLifetime[];
  readonly crls: readonly LoadedCrl[];
}

/** What a context is built with besides the configuration; it outlives reloads. */
export interface ContextState {
  /** Where TLS 1.2 sessions are kept for resumption by session ID. */
  readonly sessionStore: TlsSessionStore;
  /** Fetched CRLs and cached OCSP answers. */
  readonly sources: RevocationSources;
  /** Session ticket keys shared by every engine of the server (workers, reloads). */
  readonly ticketKeys: Buffer;
  readonly now: () => number;
}

/**
 * Reads the PKI files and builds a context. Throws a {@link PortcullisError} naming the file when
 * a file is unreadable or holds nothing usable; the caller keeps its current context then.
 */
export async function buildContext(config: Config, { sessionStore, sources, ticketKeys, now }: ContextState): Promise<ServerContext> {
  const serverChain = await readCertificates(config.tls.certificate, 'server certificate');
  const anchors = await Promise.all(config.tls.trustAnchors.map((path) => readCertificates(path, 'trust anchor file')));
  const intermediates = await Promise.all(config.tls.intermediates.map((path) => readCertificates(path, 'intermediate file')));
  const cas = [...anchors, ...intermediates].flatMap((file) => file.certificates);
  const crls = await CrlSet.load(
    await Promise.all(config.tls.crlFiles.map(async (path) => ({ path, data: await read(path, 'CRL file') }))),
    cas,
  );
  const engine = new TlsEngine({
    certificateChain: serverChain.pem,
    privateKey: await read(config.tls.privateKey, 'server private key'),
    privateKeyPassphrase: config.tls.privateKeyPassphrase,
    caCertificates: [...anchors, ...intermediates].map((file) => file.pem),
    issuers: cas,
    minVersion: config.tls.minVersion,
    maxVersion: config.tls.maxVersion,
    resumption: config.tls.resumption,
    resumptionLifetimeSeconds: config.tls.resumptionLifetimeSeconds,
    ticketKeys,
    sessionStore,
    sessionNamespace: trustNamespace([...anchors, ...intermediates].map((file) => file.pem)),
  });
  const lifetime = (kind: CertificateKind) => (certificate: X509Certificate): CertificateLifetime => ({
    kind,
    subject: certificateFacts(certificate).subjectText,
    notAfter: new Date(certificate.validTo),
  });
  return {
    config,
    radsec: await buildRadsec(config, serverChain.pem),
    engine,
    policy: new AccessPolicy(
      config.policy,
      { requireClientAuthEku: config.tls.requireClientAuthEku, crls },
      {
        revocation: new RevocationChecker(config.revocation, sources, now),
        identity: new IdentityLookups(config.identity, await buildProviders(config, now), config.policy.rules.some((rule) => rule.match.identity?.groups !== undefined)),
        anchorFiles: new Map(config.tls.trustAnchors.flatMap((path, i) => anchors[i]!.certificates.map((certificate) => [certificate.fingerprint256, path] as const))),
      },
    ),
    clients: new ClientTable(config.clients),
    certificates: [
      ...serverChain.certificates.slice(0, 1).map(lifetime('server')),
      ...anchors.flatMap((file) => file.certificates).map(lifetime('trust-anchor')),
      ...[...serverChain.certificates.slice(1), ...intermediates.flatMap((file) => file.certificates)].map(lifetime('intermediate')),
    ].filter(unique),
    crls: crls.crls,
  };
}

/** Reads the RadSec PKI: its own certificate or the EAP-TLS one, the peer CAs and CRLs. */
async function buildRadsec(config: Config, eapCertificateChain: Buffer): Promise<RadsecContext | undefined> {
  const radsec = config.radsec;
  if (radsec.listen.length === 0) return undefined;
  const anchors = await Promise.all(radsec.trustAnchors.map((path) => readCertificates(path, 'RadSec trust anchor file')));
  const crls = await CrlSet.load(
    await Promise.all(radsec.crlFiles.map(async (path) => ({ path, data: await read(path, 'RadSec CRL file') }))),
    anchors.flatMap((file) => file.certificates),
  );
  // The schema lets certificate and private_key only come together; without them RadSec uses the EAP-TLS pair.
  const own =
    radsec.certificate !== undefined && radsec.privateKey !== undefined
      ? { certificate: radsec.certificate, key: radsec.privateKey, passphrase: radsec.privateKeyPassphrase }
      : undefined;
  return {
    tls: {
      certificateChain: own === undefined ? eapCertificateChain : (await readCertificates(own.certificate, 'RadSec certificate')).pem,
      privateKey: await read(own?.key ?? config.tls.privateKey, 'RadSec private key'),
      privateKeyPassphrase: own === undefined ? config.tls.privateKeyPassphrase : own.passphrase,
      caCertificates: anchors.map((file) => file.pem),
      minVersion: radsec.minVersion,
      maxVersion: radsec.maxVersion,
    },
    identify: peerIdentifier(radsec.peers, crls, () => new Date()),
  };
}

/** The identity providers with their answer caches; a key file that cannot be used is an error naming it. */
async function buildProviders(config: Config, now: () => number): Promise<Map<string, ProviderEntry>> {
  const entries = new Map<string, ProviderEntry>();
  for (const limits of config.identity.providers) {
    let provider;
    try {
      provider = await createProvider(limits, async (path, what) => (await read(path, what)).toString('utf8'));
    } catch (error) {
      if (error instanceof PortcullisError) throw error;
      // The clients' own checks (key type, service-account fields) never echo key material.
      throw new PortcullisError('identity-provider-invalid', `identity provider "${limits.name}": ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    entries.set(limits.name, { provider, limits, cache: providerCache(limits, now) });
  }
  return entries;
}

/**
 * A resumed session keeps the chain verification of its first handshake: sessions are kept
 * under a name derived from the trust anchors and intermediates, so that after a reload that
 * changes them no earlier session resumes.
 */
function trustNamespace(caPem: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const pem of caPem) hash.update(pem);
  return `${hash.digest('hex').slice(0, 16)}:`;
}

/** One entry per kind and subject: the server chain and `intermediates` often repeat a CA. */
function unique(entry: CertificateLifetime, index: number, all: readonly CertificateLifetime[]): boolean {
  return all.findIndex((other) => other.kind === entry.kind && other.subject === entry.subject) === index;
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new PortcullisError('pki-unreadable', `cannot read ${what} ${path}: ${code}`, { cause: error });
  }
}

async function readCertificates(path: string, what: string): Promise<{ pem: Buffer; certificates: X509Certificate[] }> {
  const pem = await read(path, what);
  const certificates = derBlocks(pem, 'CERTIFICATE').map((der) => new X509Certificate(der));
  if (certificates.length === 0) throw new PortcullisError('pki-invalid', `${what} ${path} holds no certificate`);
  return { pem, certificates };
}
