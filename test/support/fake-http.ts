/**
 * The common part of the fake identity-provider HTTP servers on 127.0.0.1 and an ephemeral port.
 *
 * {@link FakeHttpServer} keeps a request log and per-path counters, a delay, and canned answers for
 * the next N requests (429 with `Retry-After`, 500, a body that is not JSON, or any response); the
 * webhook, Google, Entra and Okta fakes build on it. With it: {@link closedUrl}, and the helpers
 * the fakes share to read requests (path segments, bearer tokens, JWTs) and to answer OAuth 2.0
 * token requests.
 */
import { verify, type KeyObject } from 'node:crypto';
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

  /** An answer of `status` with the fake's error body. */
  protected errorResponse(status: number, message: string): FakeResponse {
    return { status, body: this.errorBody(status, message) };
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

/** The decoded segments of a path (`%2F` stays inside its segment); undefined for a bad escape. */
export function decodeSegments(path: string): string[] | undefined {
  try {
    return path.split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** The token of an `Authorization: Bearer <token>` header; undefined without one. */
export function bearerToken(request: FakeRequest): string | undefined {
  const authorization = request.headers.authorization ?? '';
  return authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
}

/** The given and family name a fake derives from `given.family@domain`. */
export function namesOf(email: string): [given: string, family: string] {
  const [given = '', family = ''] = (email.split('@')[0] ?? '').split('.');
  return [given, family];
}

/** A compact JWS as a fake reads it: header and claims are undefined when not a JSON object. */
export interface FakeJwt {
  readonly header: Record<string, unknown> | undefined;
  readonly claims: Record<string, unknown> | undefined;
  /** The signing input, `<header>.<claims>` as sent. */
  readonly input: Buffer;
  readonly signature: Buffer;
}

/** Splits a compact JWS into its three parts; undefined when it has not exactly three. */
export function parseJwt(jwt: string): FakeJwt | undefined {
  const parts = jwt.split('.');
  const [headerPart, claimsPart, signaturePart] = parts;
  if (parts.length !== 3 || headerPart === undefined || claimsPart === undefined || signaturePart === undefined) return undefined;
  return {
    header: decodeJson(headerPart),
    claims: decodeJson(claimsPart),
    input: Buffer.from(`${headerPart}.${claimsPart}`),
    signature: Buffer.from(signaturePart, 'base64url'),
  };
}

/** Whether `publicKey` verifies the JWS: ES256 (JOSE `r || s`) for an EC key, RS256 otherwise. */
export function verifyJwt(jwt: FakeJwt, publicKey: KeyObject): boolean {
  if (publicKey.asymmetricKeyType === 'ec') return verify('sha256', jwt.input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jwt.signature);
  return verify('sha256', jwt.input, publicKey, jwt.signature);
}

/** A base64url part of a JWT as a JSON object; undefined when it is not one. */
function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An OAuth 2.0 error answer of a token endpoint (RFC 6749 §5.2), with a provider's `extra` members. */
export function oauthError(status: number, error: string, description: string, extra: Readonly<Record<string, unknown>> = {}): FakeResponse {
  return { status, body: { error, error_description: description, ...extra } };
}
