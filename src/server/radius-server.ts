/**
 * The RADIUS server: listeners, the table of unfinished conversations and the reply cache, run
 * with the context built from the configuration in force. A reload builds a new context and
 * swaps it in; a shutdown drains unfinished conversations first. When configured, accounting
 * listeners feed the accounting session table and the record file; they are not drained, and
 * answer until stop.
 */
import type { X509Certificate } from 'node:crypto';
import { PacketCode } from '../codec/radius/index.ts';
import type { Config } from '../config/index.ts';
import { SessionTable } from '../eap/session-table.ts';
import { PortcullisError } from '../errors.ts';
import type { Readiness } from '../obs/http-server.ts';
import type { Logger } from '../obs/logger.ts';
import { ServerMetrics } from '../obs/metrics.ts';
import { JsonlAccountingSink } from '../store/jsonl-accounting-sink.ts';
import { MemoryAccountingStore } from '../store/memory-accounting-store.ts';
import { MemoryTlsSessionStore } from '../store/memory-tls-session-store.ts';
import type { AccountingSink, AccountingStore, TlsSessionStore } from '../store/ports.ts';
import { AccessRequestHandler } from './access-handler.ts';
import { AccountingRequestHandler } from './accounting-handler.ts';
import { recordLifetimes, warnExpiring } from './expiry-watch.ts';
import { ReplyCache } from './reply-cache.ts';
import { buildContext, type ServerContext } from './server-context.ts';
import { revocationSources, type RevocationSources } from '../policy/revocation.ts';
import { crlEventLogger } from './live-check-report.ts';
import { RadsecListener, type PeerIdentity } from './radsec-listener.ts';
import { UdpListener } from './udp-listener.ts';

/** How long a reply stays cached for retransmissions (FreeRADIUS `cleanup_delay` is 5 s). */
const REPLY_CACHE_MS = 10_000;
/** TLS 1.2 sessions kept for resumption (about 1-2 KB each). */
const RESUMABLE_SESSIONS = 50_000;
/** How often idle conversations and old replies are swept: a coarse timer (habit 11). */
const SWEEP_INTERVAL_MS = 1_000;
/** How often the PKI lifetimes are checked against the warning window. */
const EXPIRY_CHECK_INTERVAL_MS = 86_400_000;
/** How often a drain looks whether the last conversation has finished. */
const DRAIN_POLL_MS = 50;

/** Accounting as the server runs it. */
interface Accounting {
  /** Accounting listeners in the start-up configuration; 0: accounting is off. */
  readonly expected: number;
  readonly store: MemoryAccountingStore;
  /** The record file, when configured and accounting is on. */
  readonly sink: AccountingSink | undefined;
  readonly replies: ReplyCache;
  readonly listeners: UdpListener[];
}

/** A running server. */
export class RadiusServer {
  readonly metrics: ServerMetrics;
  readonly #listeners: UdpListener[] = [];
  readonly #sessions: SessionTable;
  readonly #replies = new ReplyCache(REPLY_CACHE_MS);
  readonly #sessionStore: TlsSessionStore;
  /** Fetched CRLs and OCSP responses: kept across reloads unless their client settings change. */
  #sources: RevocationSources;
  readonly #accounting: Accounting;
  readonly #radsec: RadsecListener[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #logger: Logger;
  #context: ServerContext;
  #draining = false;

  private constructor(
    context: ServerContext,
    sessionStore: TlsSessionStore,
    sources: RevocationSources,
    accounting: Accounting,
    logger: Logger,
    metrics: ServerMetrics,
  ) {
    this.#context = context;
    this.#sources = sources;
    this.#sessionStore = sessionStore;
    this.#accounting = accounting;
    this.#logger = logger;
    this.metrics = metrics;
    this.#sessions = new SessionTable(sessionLimits(context.config));
  }

  /** Loads the PKI, builds the policy, opens the accounting sink and binds every listener of the configuration. */
  static async start(config: Config, logger: Logger): Promise<RadiusServer> {
    const metrics = new ServerMetrics();
    metrics.ready.set(0);
    const store = new MemoryTlsSessionStore(RESUMABLE_SESSIONS);
    const sources = revocationSources(config.revocation, Date.now, crlEventLogger(logger, metrics));
    const context = await buildContext(config, store, sources, Date.now);
    const server = new RadiusServer(context, store, sources, await openAccounting(config), logger, metrics);
    await server.#bind();
    server.#adopt(server.#context);
    server.#timers.push(setInterval(() => server.#sweep(), SWEEP_INTERVAL_MS));
    server.#timers.push(setInterval(() => warnExpiring(logger, server.#context, new Date()), EXPIRY_CHECK_INTERVAL_MS));
    for (const timer of server.#timers) timer.unref();
    metrics.ready.set(1);
    return server;
  }

  /** The context in force. */
  get context(): ServerContext {
    return this.#context;
  }

  /** The bound UDP addresses, in configuration order. */
  get addresses(): { address: string; port: number }[] {
    return this.#listeners.map((listener) => listener.address);
  }

  /** The bound UDP accounting addresses, in configuration order; empty when accounting is off. */
  get accountingAddresses(): { address: string; port: number }[] {
    return this.#accounting.listeners.map((listener) => listener.address);
  }

  /** The bound RadSec (TCP) addresses, in configuration order; empty when RadSec is off. */
  get radsecAddresses(): { address: string; port: number }[] {
    return this.#radsec.map((listener) => listener.address);
  }

  /** The accounting session table (read it; records come through the accounting listeners). */
  get accountingStore(): AccountingStore {
    return this.#accounting.store;
  }

  /** Unfinished EAP conversations now. */
  get sessionsInFlight(): number {
    return this.#sessions.size;
  }

  /** Whether the server takes new conversations, and why not. */
  readiness(): Readiness {
    const { expected, listeners } = this.#accounting;
    const checks = {
      listeners: this.#listeners.length > 0,
      pki: this.#context.certificates.length > 0,
      accepting: !this.#draining,
      // Only when accounting is on: every accounting listener of the start-up configuration bound.
      ...(expected > 0 ? { accounting: listeners.length === expected } : {}),
      ...(this.#context.config.radsec.listen.length > 0 ? { radsec: this.#radsec.length === this.#context.config.radsec.listen.length } : {}),
    };
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /**
   * Swaps in a new configuration: clients, secrets, rules, certificates and CRLs. Conversations
   * in flight finish with the policy, TLS engine and limits they started with; client secrets
   * apply per packet, so a rotated secret takes effect at once. Throws when the configuration does not
   * load or its PKI cannot be read; the running context stays then. Listener addresses and the
   * `accounting` section are not applied: changing them needs a restart, which is logged.
   */
  async reload(load: () => Promise<Config>): Promise<void> {
    try {
      const config = await load();
      const running = this.#context.config;
      const clientSettings = (c: Config) => JSON.stringify({ ocsp: c.revocation.ocsp, crl: c.revocation.crl });
      const sources =
        clientSettings(config) === clientSettings(running) ? this.#sources : revocationSources(config.revocation, Date.now, crlEventLogger(this.#logger, this.metrics));
      let context: ServerContext;
      try {
        context = await buildContext(config, this.#sessionStore, sources, Date.now);
      } catch (error) {
        if (sources !== this.#sources) sources.crls.close();
        throw error;
      }
      if (sources !== this.#sources) {
        this.#sources.crls.close();
        this.#sources = sources;
      }
      if (JSON.stringify(config.listen) !== JSON.stringify(running.listen)) {
        this.#logger.warn({ listen: config.listen }, 'listen addresses changed: they take effect at the next restart');
      }
      if (JSON.stringify(config.accounting) !== JSON.stringify(running.accounting)) {
        this.#logger.warn({ accounting: config.accounting }, 'accounting settings changed: they take effect at the next restart');
      }
      if (radsecTlsChanged(config, running)) {
        this.#logger.warn('RadSec listeners, certificate, trust anchors or TLS versions changed: they take effect at the next restart');
      }
      this.#sessions.setLimits(sessionLimits(config));
      this.#context = context;
      this.#adopt(context);
      // New peers and CRLs apply to open RadSec connections too: a peer now refused is closed.
      for (const listener of this.#radsec) listener.recheck((chain) => this.#identifyPeer(chain));
      this.metrics.configReloads.inc({ result: 'success' });
    } catch (error) {
      this.metrics.configReloads.inc({ result: 'failure' });
      throw error;
    }
  }

  /**
   * Stops taking new conversations and waits up to `timeoutMs` for the unfinished ones; returns
   * how many were left and are abandoned by {@link stop}.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.#draining = true;
    this.metrics.ready.set(0);
    const deadline = Date.now() + timeoutMs;
    while (this.#sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return this.#sessions.size;
  }

  /**
   * Stops listening, abandons unfinished conversations and closes the accounting sink. Requests
   * already being handled finish first: an accounting record being stored is written and
   * answered, so every record answered is in the sink.
   */
  async stop(): Promise<void> {
    this.#draining = true;
    this.metrics.ready.set(0);
    for (const timer of this.#timers) clearInterval(timer);
    this.#sources.crls.close();
    await Promise.all([...this.#listeners, ...this.#accounting.listeners, ...this.#radsec].map((listener) => listener.close()));
    await this.#accounting.sink?.close();
    this.#sessions.clear();
    this.metrics.sessionsInFlight.set(0);
  }

  async #bind(): Promise<void> {
    const { config } = this.#context;
    for (const warning of config.warnings) this.#logger.warn({ warning }, 'configuration warning');
    const handler = new AccessRequestHandler({
      context: () => this.#context,
      accepting: () => !this.#draining,
      sessions: this.#sessions,
      replies: this.#replies,
      metrics: this.metrics,
      logger: this.#logger,
      now: Date.now,
    });
    const { replies, store, sink } = this.#accounting;
    const accounting = new AccountingRequestHandler({
      context: () => this.#context,
      replies,
      store,
      sink,
      metrics: this.metrics,
      logger: this.#logger,
      now: Date.now,
    });
    const plan = [
      ...config.listen.map((listen) => ({ listen, handler, into: this.#listeners, what: 'RADIUS listener bound' })),
      ...config.accounting.listen.map((listen) => ({
        listen,
        handler: accounting,
        into: this.#accounting.listeners,
        what: 'RADIUS accounting listener bound',
      })),
    ];
    try {
      for (const { listen, handler: target, into, what } of plan) {
        const listener = await UdpListener.bind(listen.address, listen.port, listen.family, (d, s) => target.handle(d, s), this.#logger);
        into.push(listener);
        this.#logger.info({ address: listener.address.address, port: listener.address.port }, what);
      }
      const radsecTls = this.#context.radsec?.tls;
      for (const listen of config.radsec.listen) {
        if (radsecTls === undefined) break;
        const listener = await RadsecListener.bind({
          address: listen.address,
          port: listen.port,
          tls: radsecTls,
          identify: (chain) => this.#identifyPeer(chain),
          // RFC 6614 §2.1: one connection carries authentication and accounting alike.
          handle: (packet, source, client) =>
            (packet[0] === PacketCode.AccountingRequest ? accounting : handler).handle(packet, source, client),
          idleTimeoutMs: config.radsec.idleTimeoutSeconds * 1000,
          metrics: this.metrics,
          logger: this.#logger,
        });
        this.#radsec.push(listener);
        this.#logger.info({ address: listener.address.address, port: listener.address.port }, 'RadSec listener bound');
      }
    } catch (error) {
      await Promise.all([...this.#listeners, ...this.#accounting.listeners, ...this.#radsec].map((listener) => listener.close()));
      await this.#accounting.sink?.close();
      throw new PortcullisError('listen-failed', `cannot bind a RADIUS listener: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Identifies a RadSec peer with the context in force. */
  #identifyPeer(chain: readonly X509Certificate[]): PeerIdentity {
    const radsec = this.#context.radsec;
    if (radsec === undefined) return { ok: false, reason: 'unknown-peer', detail: 'RadSec is not configured any more' };
    return radsec.identify(chain);
  }

  /** Publishes what a (new) context brings: gauges, CRL and expiry log lines. */
  #adopt(context: ServerContext): void {
    recordLifetimes(this.metrics, context);
    for (const crl of context.crls) {
      this.#logger.info({ crl: crl.source, issuer: crl.issuerText, revoked: crl.revoked.size, next_update: crl.nextUpdate }, 'CRL loaded');
    }
    warnExpiring(this.#logger, context, new Date());
  }

  #sweep(): void {
    const now = Date.now();
    this.#replies.sweep(now);
    this.#accounting.replies.sweep(now);
    const expired = this.#sessions.expire(now);
    if (expired.length === 0) return;
    this.metrics.sessionsExpired.inc(expired.length);
    this.metrics.sessionsInFlight.set(this.#sessions.size);
    for (const session of expired) {
      this.#logger.info(
        { event: 'session-expired', identity: session.identity, client: session.clientName, rounds: session.rounds },
        'EAP conversation expired',
      );
    }
  }
}

/**
 * The accounting session table, and the record file when accounting is on (some listener) and a
 * sink is configured. Throws a {@link PortcullisError} naming the file when it cannot be opened.
 */
async function openAccounting(config: Config): Promise<Accounting> {
  const { listen, sink, sessionTtlSeconds } = config.accounting;
  const accounting = {
    expected: listen.length,
    store: new MemoryAccountingStore({ ttlSeconds: sessionTtlSeconds }),
    replies: new ReplyCache(REPLY_CACHE_MS),
    listeners: [],
  };
  if (listen.length === 0 || sink === undefined) return { ...accounting, sink: undefined };
  try {
    return { ...accounting, sink: await JsonlAccountingSink.open(sink) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new PortcullisError('accounting-sink-unavailable', `cannot open the accounting sink ${sink}: ${code}`, { cause: error });
  }
}

function sessionLimits(config: Config) {
  return { maxSessions: config.eap.maxSessions, idleTimeoutMs: config.eap.idleTimeoutSeconds * 1000 };
}

/** Whether the parts of RadSec that are bound at start-up differ between two configurations. */
function radsecTlsChanged(next: Config, running: Config): boolean {
  const bound = (config: Config) => {
    const { listen, certificate, privateKey, trustAnchors, minVersion, maxVersion } = config.radsec;
    return JSON.stringify({ listen, certificate, privateKey, trustAnchors, minVersion, maxVersion });
  };
  return bound(next) !== bound(running);
}
