/**
 * A CRL publisher for tests: an HTTP server on 127.0.0.1, port 0, answering each path as told
 * (serve bytes, answer late, answer with an error status, cut the connection) and counting the
 * requests per path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertNever } from '../../src/errors.ts';

/** How one path answers. */
export type CrlRoute =
  /** 200 with `body`; `chunked` sends it without Content-Length, in 1 KiB writes. */
  | { readonly mode: 'serve'; readonly body: Buffer; readonly chunked?: boolean }
  /** 200 with `body` after `delayMs`; `headersFirst` sends the headers at once and the body late. */
  | { readonly mode: 'slow'; readonly body: Buffer; readonly delayMs: number; readonly headersFirst?: boolean }
  /** This HTTP status with an empty body. */
  | { readonly mode: 'status'; readonly status: number }
  /** The socket is destroyed without an answer. */
  | { readonly mode: 'drop' };

/** A running CRL publisher. */
export class CrlServer {
  readonly #server: Server;
  readonly #routes = new Map<string, CrlRoute>();
  readonly #requests = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts a server on 127.0.0.1 and an ephemeral port. */
  static async start(): Promise<CrlServer> {
    const server = createServer();
    const crls = new CrlServer(server);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => crls.#handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return crls;
  }

  /** The URL of `path` (which starts with `/`). */
  url(path: string): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  /** Sets how `path` answers from the next request on; unknown paths answer 404. */
  set(path: string, route: CrlRoute): void {
    this.#routes.set(path, route);
  }

  /** Requests received for `path` so far. */
  requests(path: string): number {
    return this.#requests.get(path) ?? 0;
  }

  /** Stops listening, cuts open connections and pending slow answers. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? '/';
    this.#requests.set(path, this.requests(path) + 1);
    const route = this.#routes.get(path) ?? { mode: 'status', status: 404 };
    switch (route.mode) {
      case 'serve':
        if (route.chunked === true) {
          response.writeHead(200, { 'content-type': 'application/pkix-crl' });
          for (let offset = 0; offset < route.body.length; offset += 1024) response.write(route.body.subarray(offset, offset + 1024));
          response.end();
        } else {
          response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': route.body.length }).end(route.body);
        }
        return;
      case 'slow': {
        if (route.headersFirst === true) response.writeHead(200, { 'content-type': 'application/pkix-crl' }).flushHeaders();
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/pkix-crl' });
          response.end(route.body);
        }, route.delayMs);
        this.#timers.add(timer);
        response.on('close', () => {
          clearTimeout(timer);
          this.#timers.delete(timer);
        });
        return;
      }
      case 'status':
        response.writeHead(route.status).end();
        return;
      case 'drop':
        request.socket.destroy();
        return;
      default:
        assertNever(route);
    }
  }
}
