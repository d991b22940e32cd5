/**
 * Fake identity-provider HTTP servers on 127.0.0.1 and an ephemeral port.
 *
 * {@link FakeHttpServer} is the common part: request log and per-path counters, a delay, and
 * canned answers for the next N requests (429 with `Retry-After`, 500, a body that is not JSON, or
 * any response). {@link FakeWebhook} answers the webhook contract of
 * `src/policy/identity/webhook.ts`; the Google, Entra and Okta fakes build on the same base.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/** A request as the fake received it. */
export interface FakeRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An answer: `body` is sent as JSON, `text` as is (to send a body that is not JSON). */
export interface FakeResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly text?: string;
}

/** A canned answer; with `path`, only requests whose path starts with it get it. */
export interface FakeOverride extends FakeResponse {
  readonly path?: string;
}

/** The base of the fakes: a real HTTP server whose routes a subclass provides. */
export abstract class FakeHttpServer {
  readonly #server: Server;
  readonly #closing = new AbortController();
  readonly #received: FakeRequest[] = [];
  readonly #overrides: { remaining: number; override: FakeOverride }[] = [];
  #delayMs = 0;
  #url = '';

  protected constructor() {
    this.#server = createHttpServer((request, response) => {
      this.#serve(request, response).catch((error: unknown) => {
        // A bug in a fake's route: answer 500 rather than crash the test run.
        if (!response.headersSent) response.writeHead(500).end(String(error));
      });
    });
  }

  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  get url(): string {
    return this.#url;
  }

  /** How many requests arrived whose path starts with `prefix`. */
  requests(prefix = '/'): number {
    return this.received(prefix).length;
  }

  /** The requests whose path starts with `prefix`, oldest first. */
  received(prefix = '/'): readonly FakeRequest[] {
    return this.#received.filter((request) => request.path.startsWith(prefix));
  }

  /** Answers the next `count` requests (under `override.path`, if given) with `override`. */
  respondNext(count: number, override: FakeOverride): void {
    this.#overrides.push({ remaining: count, override });
  }

  /** The next `count` requests get 429 with `Retry-After: <seconds>`. */
  rateLimitNext(count: number, retryAfterSeconds: number, path?: string): void {
    const headers = { 'retry-after': String(retryAfterSeconds) };
    this.respondNext(count, { status: 429, headers, body: this.errorBody(429, 'Rate limit exceeded'), ...(path === undefined ? {} : { path }) });
  }

  /** The next `count` requests get `status` (500 by default) with the fake's error body. */
  failNext(count: number, status = 500, path?: string): void {
    this.respondNext(count, { status, body: this.errorBody(status, 'Internal error'), ...(path === undefined ? {} : { path }) });
  }

  /** The next `count` requests get 200 with a truncated JSON body. */
  malformedNext(count: number, path?: string): void {
    this.respondNext(count, { status: 200, text: '{"status": "act', ...(path === undefined ? {} : { path }) });
  }

  /** Waits `ms` before answering each request (0: answer at once). */
  setDelay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Stops listening, drops open connections and cuts pending delays short. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#server.closeAllConnections();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Binds 127.0.0.1 on an ephemeral port; subclasses call it from their `start`. */
  protected async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The answer to a request that no override caught. */
  protected abstract route(request: FakeRequest): FakeResponse;

  /** The provider's error body for a status; subclasses give the real provider's envelope. */
  protected errorBody(status: number, message: string): unknown {
    return { error: message, status };
  }

  async #serve(message: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of message) chunks.push(chunk as Buffer);
    const target = new URL(message.url ?? '/', this.#url);
    const request: FakeRequest = {
      method: message.method ?? 'GET',
      path: target.pathname,
      query: target.searchParams,
      headers: message.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.#received.push(request);
    const answer = this.#takeOverride(request.path) ?? this.route(request);
    if (this.#delayMs > 0) {
      try {
        await sleep(this.#delayMs, undefined, { signal: this.#closing.signal });
      } catch {
        return;
      }
    }
    if (response.destroyed) return;
    const text = answer.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
    const headers: Record<string, string> = { ...answer.headers };
    if (text !== '' && answer.text === undefined) headers['content-type'] = 'application/json; charset=UTF-8';
    response.writeHead(answer.status, headers).end(text);
  }

  #takeOverride(path: string): FakeOverride | undefined {
    const index = this.#overrides.findIndex((entry) => entry.override.path === undefined || path.startsWith(entry.override.path));
    const entry = this.#overrides[index];
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.#overrides.splice(index, 1);
    return entry.override;
  }
}

/** A URL on 127.0.0.1 where nothing listens (a port just bound and released). */
export async function closedUrl(): Promise<string> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** One identity the webhook knows. */
export interface WebhookEntry {
  readonly kind?: 'user' | 'device';
  readonly id: string;
  readonly status: 'active' | 'disabled' | 'not-found';
  readonly groups?: readonly string[];
  readonly detail?: string;
}

/** Options of {@link FakeWebhook.start}. */
export interface FakeWebhookOptions {
  /** The `Authorization` value the webhook requires; `Bearer fake-webhook-secret` by default. */
  readonly authorization?: string;
}

/** The endpoint path of the fake webhook. */
const WEBHOOK_PATH = '/identity';

/**
 * A webhook that answers the contract: `POST /identity` with the configured `Authorization`
 * (401 otherwise), a JSON body of `kind`, `id` and `groups` (400 otherwise); 200 with the entry's
 * status (groups only when asked), or 404 for an unknown identity.
 */
export class FakeWebhook extends FakeHttpServer {
  /** The `Authorization` header value the webhook requires. */
  readonly authorization: string;
  readonly #answers = new Map<string, StoredAnswer>();

  private constructor(options: FakeWebhookOptions) {
    super();
    this.authorization = options.authorization ?? 'Bearer fake-webhook-secret';
  }

  /** Starts a webhook on 127.0.0.1. */
  static async start(options: FakeWebhookOptions = {}): Promise<FakeWebhook> {
    const webhook = new FakeWebhook(options);
    await webhook.listen();
    return webhook;
  }

  /** The URL providers post to. */
  get endpoint(): string {
    return `${this.url}${WEBHOOK_PATH}`;
  }

  /** The headers a provider needs: the expected `Authorization`. */
  get headers(): Readonly<Record<string, string>> {
    return { authorization: this.authorization };
  }

  /** Adds or replaces an identity (kind `user` by default). */
  setEntry(entry: WebhookEntry): void {
    this.#answers.set(answerKey(entry.kind ?? 'user', entry.id), { type: 'entry', entry });
  }

  /** Answers a lookup of `kind`/`id` with this body as is (to break the contract in tests). */
  setRawAnswer(kind: 'user' | 'device', id: string, body: unknown): void {
    this.#answers.set(answerKey(kind, id), { type: 'raw', body });
  }

  /** Forgets an identity: its lookups get 404. */
  deleteEntry(kind: 'user' | 'device', id: string): void {
    this.#answers.delete(answerKey(kind, id));
  }

  protected override route(request: FakeRequest): FakeResponse {
    if (request.path !== WEBHOOK_PATH || request.method !== 'POST') return { status: 405, body: this.errorBody(405, 'POST /identity only') };
    if (request.headers.authorization !== this.authorization) return { status: 401, body: this.errorBody(401, 'unauthorized') };
    if (request.headers['content-type'] !== 'application/json') return { status: 415, body: this.errorBody(415, 'JSON only') };
    let query: unknown;
    try {
      query = JSON.parse(request.body);
    } catch {
      return { status: 400, body: this.errorBody(400, 'body is not JSON') };
    }
    const { kind, id, groups } = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
    if ((kind !== 'user' && kind !== 'device') || typeof id !== 'string' || typeof groups !== 'boolean') {
      return { status: 400, body: this.errorBody(400, 'expected {kind, id, groups}') };
    }
    const answer = this.#answers.get(answerKey(kind, id));
    if (answer === undefined) return { status: 404, body: this.errorBody(404, 'unknown identity') };
    if (answer.type === 'raw') return { status: 200, body: answer.body };
    const { status, detail } = answer.entry;
    return { status: 200, body: { status, ...(detail === undefined ? {} : { detail }), ...(groups ? { groups: answer.entry.groups ?? [] } : {}) } };
  }
}

/** What the webhook answers for one identity: an entry, or a raw body that may break the contract. */
type StoredAnswer = { readonly type: 'entry'; readonly entry: WebhookEntry } | { readonly type: 'raw'; readonly body: unknown };

function answerKey(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}
