/**
 * The EAP worker threads of a server (`eap.workers`): the main thread keeps the sockets and
 * routes each Access-Request to a worker with {@link routeRequest}, so that every packet of a
 * conversation reaches the worker holding its TLS state; the workers do everything else. A worker
 * that dies is replaced (its conversations are lost; their NAS start again).
 */
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { ConfigSource } from '../config/index.ts';
import { writeForeignLine, type Logger } from '../obs/logger.ts';
import type { TlsSessionStore } from '../store/ports.ts';
import type { RadiusClient } from './client-table.ts';
import { asBuffer, ownCopy, routeRequest, type FromWorker, type ToWorker, type WorkerSetup } from './eap-worker-protocol.ts';
import type { Source } from './request-intake.ts';

/** Whether this module runs from the TypeScript sources (tsx, tap) rather than from `dist/`. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** The worker's module: the TypeScript source under tsx and tap, the compiled file in `dist/`. */
const WORKER_URL = new URL(FROM_SOURCE ? './eap-worker.ts' : './eap-worker.js', import.meta.url);

/**
 * Starts a worker thread on {@link WORKER_URL}. From the sources, the thread registers tsx's
 * loader first: the loader flags of the parent do not reach a worker's module loading on Node 20.
 */
function startThread(setup: WorkerSetup): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData: setup });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: setup });
}

/** Options of {@link EapWorkerPool.start}. */
export interface EapWorkerPoolOptions {
  readonly count: number;
  readonly source: ConfigSource;
  readonly ticketKeys: Buffer;
  /** Where the workers' log lines go. */
  readonly logger: Logger;
  /** The TLS 1.2 session store the workers share. */
  readonly sessionStore: TlsSessionStore;
}

/** One worker thread and what is waiting on it. */
interface Member {
  readonly worker: Worker;
  /** False once the thread exited: nothing posted to it is answered. */
  alive: boolean;
  sessions: number;
  readonly waiting: Map<number, (message: FromWorker) => void>;
}

/** The running workers. */
export class EapWorkerPool {
  readonly #options: EapWorkerPoolOptions;
  readonly #members: Member[] = [];
  #source: ConfigSource;
  #next = 0;
  #stopping = false;
  #draining = false;

  private constructor(options: EapWorkerPoolOptions) {
    this.#options = options;
    this.#source = options.source;
  }

  /** Starts `count` workers; resolves once each has built its context, rejects with the first failure. */
  static async start(options: EapWorkerPoolOptions): Promise<EapWorkerPool> {
    const pool = new EapWorkerPool(options);
    try {
      for (let index = 0; index < options.count; index++) pool.#members.push(await pool.#spawn(index));
    } catch (error) {
      await pool.stop();
      throw error;
    }
    return pool;
  }

  /** Workers in the pool. */
  get size(): number {
    return this.#members.length;
  }

  /** Unfinished conversations in every worker, as last reported. */
  get sessionsInFlight(): number {
    return this.#members.reduce((sum, member) => sum + member.sessions, 0);
  }

  /** Hands an Access-Request (or Status-Server) to its worker; resolves with the reply to send. */
  async handle(datagram: Buffer, source: Source, client?: RadiusClient): Promise<Buffer | undefined> {
    const member = this.#members[routeRequest(datagram, this.#members.length)]!;
    const bytes = ownCopy(datagram);
    const answer = await this.#ask(member, (id) => ({ kind: 'request', id, datagram: bytes, source, client }), [bytes.buffer as ArrayBuffer]);
    if (answer.kind !== 'reply') return undefined;
    member.sessions = answer.sessions;
    return answer.reply === undefined ? undefined : asBuffer(answer.reply);
  }

  /** Has every worker load `source`; rejects naming the first worker that could not. */
  async reload(source: ConfigSource): Promise<void> {
    this.#source = source;
    const answers = await Promise.all(this.#members.map((member) => this.#ask(member, (id) => ({ kind: 'reload', id, source }))));
    const failed = answers.find((answer) => answer.kind === 'reloaded' && answer.error !== undefined);
    if (failed?.kind === 'reloaded') throw new Error(`an EAP worker could not reload: ${failed.error}`);
  }

  /** Stops the workers from starting conversations (draining for shutdown). */
  drain(): void {
    this.#draining = true;
    for (const member of this.#members) member.worker.postMessage({ kind: 'drain' } satisfies ToWorker);
  }

  /** The workers' metrics merged with `own` (the main thread's): counters and histograms summed. */
  async mergedMetrics(own: Registry): Promise<Registry> {
    const answers = await Promise.all(this.#members.map((member) => this.#ask(member, (id) => ({ kind: 'metrics', id }))));
    const all: MetricObjectWithValues<MetricValue<string>>[][] = [await own.getMetricsAsJSON()];
    for (const answer of answers) if (answer.kind === 'metrics') all.push(answer.metrics);
    return AggregatorRegistry.aggregate(all);
  }

  /** Terminates every worker; their unfinished conversations are abandoned. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#members.map((member) => member.worker.terminate()));
  }

  async #spawn(index: number): Promise<Member> {
    const setup: WorkerSetup = { index, workers: this.#options.count, source: this.#source, ticketKeys: this.#options.ticketKeys };
    const worker = startThread(setup);
    const member: Member = { worker, alive: true, sessions: 0, waiting: new Map() };
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`EAP worker ${index} exited with code ${code} while starting`)));
      worker.on('message', (message: FromWorker) => {
        if (message.kind === 'ready') resolve();
        else this.#receive(member, message);
      });
    });
    worker.removeAllListeners('error').removeAllListeners('exit');
    worker.on('error', (error) => this.#options.logger.error({ err: error, worker: index }, 'EAP worker failed'));
    worker.on('exit', (code) => this.#replace(index, member, code));
    if (this.#draining) worker.postMessage({ kind: 'drain' } satisfies ToWorker);
    return member;
  }

  #receive(member: Member, message: FromWorker): void {
    switch (message.kind) {
      case 'log':
        writeForeignLine(this.#options.logger, message.line);
        return;
      case 'sessions':
        member.sessions = message.sessions;
        return;
      case 'session-get':
        void this.#options.sessionStore.get(message.key).then(
          (session) => member.worker.postMessage({ kind: 'session', id: message.id, session } satisfies ToWorker),
          () => member.worker.postMessage({ kind: 'session', id: message.id, session: undefined } satisfies ToWorker),
        );
        return;
      case 'session-set':
        void this.#options.sessionStore.set(message.key, asBuffer(message.session), message.ttlSeconds).catch(() => undefined);
        return;
      case 'ready':
        return;
      case 'reply':
      case 'reloaded':
      case 'metrics': {
        const waiter = member.waiting.get(message.id);
        member.waiting.delete(message.id);
        waiter?.(message);
        return;
      }
      default:
        message satisfies never;
    }
  }

  /** Posts a message that gets an answer with the same id; a worker that dies answers nothing more. */
  #ask(member: Member, message: (id: number) => ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    const id = this.#next++;
    if (!member.alive) return Promise.resolve({ kind: 'reply', id, reply: undefined, sessions: 0 });
    return new Promise((resolve) => {
      member.waiting.set(id, resolve);
      member.worker.postMessage(message(id), transfer);
    });
  }

  /** Replaces a worker that exited while the pool runs; what waited on it gets no reply. */
  #replace(index: number, member: Member, code: number): void {
    member.alive = false;
    for (const waiter of member.waiting.values()) waiter({ kind: 'reply', id: -1, reply: undefined, sessions: 0 });
    member.waiting.clear();
    member.sessions = 0;
    if (this.#stopping) return;
    this.#options.logger.error({ worker: index, code }, 'EAP worker exited: starting a new one, its conversations are lost');
    this.#spawn(index).then(
      (fresh) => {
        if (this.#stopping) void fresh.worker.terminate();
        else this.#members[index] = fresh;
      },
      (error: unknown) => this.#options.logger.error({ err: error, worker: index }, 'EAP worker could not be restarted'),
    );
  }
}
