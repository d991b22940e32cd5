/**
 * The RADIUS server: listeners, the table of unfinished conversations and the reply cache, run
 * with the context built from the configuration in force. A reload builds a new context and
 * swaps it in; a shutdown drains unfinished conversations first. When configured, accounting
 * listeners feed the accounting session table and the record file; they are not drained, and
 * answer until stop.
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';
import { PacketCode, decodePacket } from '../codec/radius/index.ts';
import { configSource, type Config } from '../config/index.ts';
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
import type { RevocationSources } from '../policy/revocation.ts';
import { freshRevocationSources, rebuildContext, REPLY_CACHE_MS, sessionLimits, sweepConversations, SWEEP_INTERVAL_MS } from './access-upkeep.ts';
import { EapWorkerPool } from './eap-worker-pool.ts';
import { drop, type Source } from './request-intake.ts';
import type { RadiusClient } from './client-table.ts';
import { RadsecListener, type PeerIdentity } from './radsec-listener.ts';
import { RECEIVE_BUFFER_BYTES, UdpListener } from './udp-listener.ts';
import { TICKET_KEY_OCTETS } from '../tls/engine.ts';

/** TLS 1.2 sessions kept for resumption (about 1-2 KB each). */
const RESUMABLE_SESSIONS = 50_000;
/** `eap.workers: auto` starts workers from this many cores on. */
const MIN_CORES_FOR_WORKERS = 3;
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

/** Whatever answers Access-Requests: the handler on this thread, or the EAP worker pool. */
interface AccessHandling {
  handle(datagram: Buffer, source: Source, client?: RadiusClient): Promise<Buffer | undefined>;
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
  readonly #ticketKeys: Buffer;
  /** The EAP worker threads; undefined when conversations are handled on this thread. */
  #pool: EapWorkerPool | undefined;
  #context: ServerContext;
  #draining = false;

  private constructor(
    context: ServerContext,
    sessionStore: TlsSessionStore,
    sources: RevocationSources,
    ticketKeys: Buffer,
    accounting: Accounting,
    logger: Logger,
    metrics: ServerMetrics,
  ) {
    this.#context = context;
    this.#ticketKeys = ticketKeys;
    this.#sources = sources;
    this.#sessionStore = sessionStore;
    this.#accounting = accounting;
    this.#logger = logger;
    this.metrics = metrics;
    this.#sessions = new SessionTable(sessionLimits(context.config));
  }

  /**
   * Loads the PKI, builds the policy, starts the EAP workers, opens the accounting sink and binds
   * every listener of the configuration.
   */
  static async start(config: Config, logger: Logger): Promise<RadiusServer> {
    const metrics = new ServerMetrics();
    metrics.ready.set(0);
    const store = new MemoryTlsSessionStore(RESUMABLE_SESSIONS);
    const sources = freshRevocationSources(config, logger, metrics);
    const ticketKeys = randomBytes(TICKET_KEY_OCTETS);
    const context = await buildContext(config, { sessionStore: store, sources, ticketKeys, now: Date.now });
    const server = new RadiusServer(context, store, sources, ticketKeys, await openAccounting(config), logger, metrics);
    server.#pool = await server.#startWorkers(config).catch(async (error: unknown) => {
      await server.#accounting.sink?.close();
      throw error;
    });
    try {
      await server.#bind();
    } catch (error) {
      await server.#pool?.stop();
      throw error;
    }
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

  /** Unfinished EAP conversations now (as last reported by the workers, when there are workers). */
  get sessionsInFlight(): number {
    return this.#pool?.sessionsInFlight ?? this.#sessions.size;
  }

  /** EAP worker threads running (0: conversations are handled on the main thread). */
  get workers(): number {
    return this.#pool === undefined ? 0 : this.#pool.size;
  }

  /** Every metric of the server: this thread's, with the workers' added in. */
  async metricsRegistry(): Promise<Registry> {
    return this.#pool === undefined ? this.metrics.registry : this.#pool.mergedMetrics(this.metrics.registry);
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
      const state = { sessionStore: this.#sessionStore, ticketKeys: this.#ticketKeys, now: Date.now };
      const observe = { logger: this.#logger, metrics: this.metrics };
      const { context, sources } = await rebuildContext(config, running, this.#sources, state, observe, () => this.#reloadWorkers(config));
      this.#sources = sources;
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
    this.#pool?.drain();
    const deadline = Date.now() + timeoutMs;
    while (this.sessionsInFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return this.sessionsInFlight;
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
    await this.#pool?.stop();
    await this.#accounting.sink?.close();
    this.#sessions.clear();
    this.metrics.sessionsInFlight.set(0);
  }

  async #bind(): Promise<void> {
    const { config } = this.#context;
    for (const warning of config.warnings) this.#logger.warn({ warning }, 'configuration warning');
    const pool = this.#pool;
    const handler: AccessHandling = pool !== undefined ? this.#screenedFor(pool) : new AccessRequestHandler({
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
        const receiveBuffer = listener.receiveBufferBytes;
        this.#logger.info({ address: listener.address.address, port: listener.address.port, receive_buffer_bytes: receiveBuffer }, what);
        if (receiveBuffer < RECEIVE_BUFFER_BYTES) {
          this.#logger.warn(
            { wanted: RECEIVE_BUFFER_BYTES, granted: receiveBuffer },
            'the kernel capped the UDP receive buffer: raise net.core.rmem_max, or bursts of requests may be dropped before they are read',
          );
        }
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

  /**
   * The workers behind a screen: bytes that do not decode as RADIUS are dropped and counted here,
   * never copied to a worker (a flood of junk costs the main thread a decode, nothing more).
   */
  #screenedFor(pool: EapWorkerPool): AccessHandling {
    const deps = { metrics: this.metrics, logger: this.#logger };
    return {
      handle: async (datagram, source, client) => {
        const decoded = decodePacket(datagram);
        if (!decoded.ok) return drop(deps, decoded.reason, source);
        return pool.handle(datagram, source, client);
      },
    };
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
    this.#accounting.replies.sweep(now);
    sweepConversations({ sessions: this.#sessions, replies: this.#replies, metrics: this.metrics, logger: this.#logger }, now);
  }

  /** The EAP workers `eap.workers` asks for, started; undefined to handle conversations on this thread. */
  async #startWorkers(config: Config): Promise<EapWorkerPool | undefined> {
    const count = workerCount(config);
    if (count === 0) return undefined;
    const source = configSource(config);
    if (source === undefined) {
      this.#logger.warn('the configuration was not parsed from text: EAP conversations are handled on the main thread');
      return undefined;
    }
    const pool = await EapWorkerPool.start({ count, source, ticketKeys: this.#ticketKeys, logger: this.#logger, sessionStore: this.#sessionStore });
    this.#logger.info({ workers: count }, 'EAP workers started');
    return pool;
  }

  /** Has the workers load `config` too; the worker count stays that of the start. */
  async #reloadWorkers(config: Config): Promise<void> {
    if (this.#pool === undefined) return;
    const source = configSource(config);
    if (source === undefined) throw new PortcullisError('reload-failed', 'the configuration was not parsed from text: the EAP workers cannot load it');
    if (workerCount(config) !== this.#pool.size) this.#logger.warn({ workers: config.eap.workers }, 'eap.workers changed: it takes effect at the next restart');
    await this.#pool.reload(source);
  }
}

/**
 * The EAP worker threads `eap.workers` asks for. `auto` leaves the first core to the main thread
 * (sockets, junk screening, routing, the shared session cache) and gives each other core a
 * worker; on one or two cores, none: handing every request to another thread and back cost
 * more than the second core gave (bench/RESULTS.md, "EAP workers").
 */
function workerCount(config: Config): number {
  const { workers } = config.eap;
  if (workers !== 'auto') return workers;
  const cores = availableParallelism();
  return cores >= MIN_CORES_FOR_WORKERS ? cores - 1 : 0;
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

/** Whether the parts of RadSec that are bound at start-up differ between two configurations. */
function radsecTlsChanged(next: Config, running: Config): boolean {
  const bound = (config: Config) => {
    const { listen, certificate, privateKey, trustAnchors, minVersion, maxVersion } = config.radsec;
    return JSON.stringify({ listen, certificate, privateKey, trustAnchors, minVersion, maxVersion });
  };
  return bound(next) !== bound(running);
}
