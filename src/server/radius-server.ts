/**
 * The RADIUS server: the TLS engine, the policy, the session table and the listeners of one
 * configuration, started and stopped together.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.ts';
import { SessionTable } from '../eap/session-table.ts';
import { PortcullisError } from '../errors.ts';
import type { Logger } from '../obs/logger.ts';
import { ServerMetrics } from '../obs/metrics.ts';
import { CrlSet, derBlocks } from '../policy/crl-set.ts';
import { AccessPolicy } from '../policy/decide.ts';
import { MemoryTlsSessionStore } from '../store/memory-tls-session-store.ts';
import { TlsEngine } from '../tls/engine.ts';
import { AccessRequestHandler } from './access-handler.ts';
import { ClientTable } from './client-table.ts';
import { ReplyCache } from './reply-cache.ts';
import { UdpListener } from './udp-listener.ts';

/** How long a reply stays cached for retransmissions (FreeRADIUS `cleanup_delay` is 5 s). */
const REPLY_CACHE_MS = 10_000;
/** TLS 1.2 sessions kept for resumption (about 1-2 KB each). */
const RESUMABLE_SESSIONS = 50_000;
/** How often idle conversations and old replies are swept: a coarse timer (habit 11). */
const SWEEP_INTERVAL_MS = 1_000;

/** A running server. */
export class RadiusServer {
  readonly metrics: ServerMetrics;
  readonly #listeners: UdpListener[];
  readonly #sessions: SessionTable;
  readonly #replies: ReplyCache;
  readonly #sweeper: NodeJS.Timeout;
  readonly #logger: Logger;

  private constructor(parts: {
    metrics: ServerMetrics;
    listeners: UdpListener[];
    sessions: SessionTable;
    replies: ReplyCache;
    logger: Logger;
  }) {
    this.metrics = parts.metrics;
    this.#listeners = parts.listeners;
    this.#sessions = parts.sessions;
    this.#replies = parts.replies;
    this.#logger = parts.logger;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  /** Loads the PKI, builds the policy and binds every listener of the configuration. */
  static async start(config: Config, logger: Logger): Promise<RadiusServer> {
    for (const warning of config.warnings) logger.warn({ warning }, 'configuration warning');
    const pki = await loadPki(config);
    const engine = new TlsEngine({
      certificateChain: pki.certificateChain,
      privateKey: pki.privateKey,
      privateKeyPassphrase: config.tls.privateKeyPassphrase,
      caCertificates: pki.caPem,
      minVersion: config.tls.minVersion,
      maxVersion: config.tls.maxVersion,
      resumption: config.tls.resumption,
      resumptionLifetimeSeconds: config.tls.resumptionLifetimeSeconds,
      sessionStore: new MemoryTlsSessionStore(RESUMABLE_SESSIONS),
    });
    const policy = new AccessPolicy(config.policy, {
      requireClientAuthEku: config.tls.requireClientAuthEku,
      crls: pki.crls,
    });
    const metrics = new ServerMetrics();
    const sessions = new SessionTable({ maxSessions: config.eap.maxSessions, idleTimeoutMs: config.eap.idleTimeoutSeconds * 1000 });
    const replies = new ReplyCache(REPLY_CACHE_MS);
    const handler = new AccessRequestHandler({
      config,
      clients: new ClientTable(config.clients),
      sessions,
      engine,
      policy,
      replies,
      metrics,
      logger,
      now: Date.now,
    });
    const listeners: UdpListener[] = [];
    try {
      for (const listen of config.listen) {
        const listener = await UdpListener.bind(listen.address, listen.port, listen.family, (d, s) => handler.handle(d, s), logger);
        listeners.push(listener);
        logger.info({ address: listener.address.address, port: listener.address.port }, 'RADIUS listener bound');
      }
    } catch (error) {
      await Promise.all(listeners.map((listener) => listener.close()));
      throw new PortcullisError('listen-failed', `cannot bind a RADIUS listener: ${(error as Error).message}`, { cause: error });
    }
    for (const crl of pki.crls.crls) {
      logger.info({ crl: crl.source, issuer: crl.issuerText, revoked: crl.revoked.size, next_update: crl.nextUpdate }, 'CRL loaded');
    }
    return new RadiusServer({ metrics, listeners, sessions, replies, logger });
  }

  /** The bound UDP addresses, in configuration order. */
  get addresses(): { address: string; port: number }[] {
    return this.#listeners.map((listener) => listener.address);
  }

  /** Unfinished EAP conversations now. */
  get sessionsInFlight(): number {
    return this.#sessions.size;
  }

  /** Stops listening and abandons unfinished conversations. */
  async stop(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all(this.#listeners.map((listener) => listener.close()));
    this.#sessions.clear();
    this.metrics.sessionsInFlight.set(0);
  }

  #sweep(): void {
    const now = Date.now();
    this.#replies.sweep(now);
    const expired = this.#sessions.expire(now);
    if (expired.length === 0) return;
    this.metrics.sessionsExpired.inc(expired.length);
    this.metrics.sessionsInFlight.set(this.#sessions.size);
    for (const session of expired) {
      this.#logger.info({ event: 'session-expired', identity: session.identity, client: session.clientName, rounds: session.rounds }, 'EAP conversation expired');
    }
  }
}

/** The PKI files of the configuration, read and checked once at start-up. */
interface LoadedPki {
  readonly certificateChain: Buffer;
  readonly privateKey: Buffer;
  readonly caPem: Buffer[];
  readonly crls: CrlSet;
}

async function loadPki(config: Config): Promise<LoadedPki> {
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new PortcullisError('pki-unreadable', `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
  };
  const certificates = async (paths: readonly string[], what: string) => {
    const list: { pem: Buffer; certs: X509Certificate[] }[] = [];
    for (const path of paths) {
      const pem = await read(path, what);
      const certs = derBlocks(pem, 'CERTIFICATE').map((der) => new X509Certificate(der));
      if (certs.length === 0) throw new PortcullisError('pki-invalid', `${what} ${path} holds no certificate`);
      list.push({ pem, certs });
    }
    return list;
  };
  const anchors = await certificates(config.tls.trustAnchors, 'trust anchor file');
  const intermediates = await certificates(config.tls.intermediates, 'intermediate file');
  const cas = [...anchors, ...intermediates].flatMap((entry) => entry.certs);
  const crlFiles = await Promise.all(config.tls.crlFiles.map(async (path) => ({ path, data: await read(path, 'CRL file') })));
  return {
    certificateChain: await read(config.tls.certificate, 'server certificate'),
    privateKey: await read(config.tls.privateKey, 'server private key'),
    caPem: [...anchors, ...intermediates].map((entry) => entry.pem),
    crls: await CrlSet.load(crlFiles, cas),
  };
}
