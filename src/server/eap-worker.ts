/**
 * An EAP worker thread: it holds its share of the EAP conversations, with their TLS state, and
 * answers the Access-Requests the main thread routes to it (see `routeRequest`). It parses the
 * configuration text itself (a configuration cannot be posted), keeps its own reply cache,
 * session table and metrics, writes its log lines through the main thread, and keeps TLS 1.2
 * sessions in the main thread's store, so that any worker resumes them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseConfig, type Config, type ConfigSource } from '../config/index.ts';
import { SessionTable } from '../eap/session-table.ts';
import { createLogger } from '../obs/logger.ts';
import { ServerMetrics } from '../obs/metrics.ts';
import type { RevocationSources } from '../policy/revocation.ts';
import type { TlsSessionStore } from '../store/ports.ts';
import { AccessRequestHandler } from './access-handler.ts';
import { freshRevocationSources, rebuildContext, REPLY_CACHE_MS, sessionLimits, sweepConversations, SWEEP_INTERVAL_MS } from './access-upkeep.ts';
import { asBuffer, ownCopy, type FromWorker, type ToWorker, type WorkerSetup } from './eap-worker-protocol.ts';
import { ReplyCache } from './reply-cache.ts';
import { buildContext, type ServerContext } from './server-context.ts';

const port = parentPort;
if (port === null) throw new Error('eap-worker.ts runs as a worker thread');
const setup = workerData as WorkerSetup;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

/** TLS 1.2 sessions kept by the main thread, for every worker (a lookup is one message away). */
class MainThreadSessionStore implements TlsSessionStore {
  readonly #waiting = new Map<number, (session: Buffer | undefined) => void>();
  #next = 0;

  async get(key: string): Promise<Buffer | undefined> {
    const id = this.#next++;
    const found = new Promise<Buffer | undefined>((resolve) => this.#waiting.set(id, resolve));
    post({ kind: 'session-get', id, key });
    return found;
  }

  async set(key: string, session: Buffer, ttlSeconds: number): Promise<void> {
    post({ kind: 'session-set', key, session: ownCopy(session), ttlSeconds });
  }

  answer(id: number, session: Uint8Array | undefined): void {
    this.#waiting.get(id)?.(session === undefined ? undefined : asBuffer(session));
    this.#waiting.delete(id);
  }
}

const parse = (source: ConfigSource): Config => parseConfig(source.text, source.sourceName, { baseDir: source.baseDir });
let config = parse(setup.source);
const logger = createLogger({ level: config.log.level, pretty: false, destination: { write: (line: string) => post({ kind: 'log', line }) } });
const metrics = new ServerMetrics();
const sessionStore = new MainThreadSessionStore();
const ticketKeys = asBuffer(setup.ticketKeys);
let sources: RevocationSources = freshRevocationSources(config, logger, metrics);
let context: ServerContext = await buildContext(config, { sessionStore, sources, ticketKeys, now: Date.now });
let accepting = true;
const sessions = new SessionTable(sessionLimits(config, setup.workers));
const replies = new ReplyCache(REPLY_CACHE_MS);
const handler = new AccessRequestHandler({
  context: () => context,
  accepting: () => accepting,
  sessions,
  replies,
  metrics,
  logger,
  now: Date.now,
  stateTag: setup.index,
});

setInterval(() => {
  if (sweepConversations({ sessions, replies, metrics, logger }, Date.now()) > 0) post({ kind: 'sessions', sessions: sessions.size });
}, SWEEP_INTERVAL_MS).unref();

/** Swaps in a new configuration, as the main thread did; conversations in flight keep theirs. */
async function reload(source: ConfigSource): Promise<void> {
  const next = parse(source);
  const rebuilt = await rebuildContext(next, config, sources, { sessionStore, ticketKeys, now: Date.now }, { logger, metrics });
  context = rebuilt.context;
  sources = rebuilt.sources;
  config = next;
  sessions.setLimits(sessionLimits(next, setup.workers));
}

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'request': {
      const client = message.client === undefined ? undefined : { ...message.client, secret: asBuffer(message.client.secret) };
      handler.handle(asBuffer(message.datagram), message.source, client).then(
        (reply) => {
          const bytes = reply === undefined ? undefined : ownCopy(reply);
          post({ kind: 'reply', id: message.id, reply: bytes, sessions: sessions.size }, bytes === undefined ? [] : [bytes.buffer as ArrayBuffer]);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'datagram handler failed');
          post({ kind: 'reply', id: message.id, reply: undefined, sessions: sessions.size });
        },
      );
      return;
    }
    case 'reload':
      reload(message.source).then(
        () => post({ kind: 'reloaded', id: message.id, error: undefined }),
        (error: unknown) => post({ kind: 'reloaded', id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
      return;
    case 'metrics':
      void metrics.registry.getMetricsAsJSON().then((values) => post({ kind: 'metrics', id: message.id, metrics: values }));
      return;
    case 'session':
      sessionStore.answer(message.id, message.session);
      return;
    case 'drain':
      accepting = false;
      return;
    default:
      message satisfies never;
  }
});
post({ kind: 'ready' });
