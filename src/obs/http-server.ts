/**
 * The operations HTTP listener: `GET /metrics`, `GET /healthz`, `GET /readyz` and
 * `POST /reload` (loopback peers only). Plain `node:http`, no framework. It knows nothing of the
 * server it watches: everything it reports or does comes through the {@link OpsRoutes} callbacks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';

/** What `/readyz` reports: ready only when every check passes (the caller decides). */
export interface Readiness {
  readonly ready: boolean;
  /** Named checks, for example `listeners: true`, `draining: false`. */
  readonly checks: Readonly<Record<string, boolean>>;
}

/** The result of a configuration reload: applied, or refused with the reasons. */
export type ReloadOutcome = { readonly ok: true } | { readonly ok: false; readonly problems: readonly string[] };

/** The callbacks behind the routes. A callback that throws or rejects gives a 500. */
export interface OpsRoutes {
  /** Prometheus text exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Whether the server takes new work now; `/readyz` answers 503 when not. */
  readiness(): Readiness;
  /** Reloads the configuration; only reachable from a loopback peer. */
  reload(): Promise<ReloadOutcome>;
}

/** A running operations listener. */
export interface OpsHttpServer {
  /** The bound address. */
  readonly address: string;
  /** The bound port (the one the OS chose when 0 was asked). */
  readonly port: number;
  /** Stops listening, closes every connection (idle keep-alive ones too) and resolves once closed. */
  close(): Promise<void>;
}

/** Options of {@link startOpsHttpServer}. */
export interface OpsHttpServerOptions {
  /** IPv4 or IPv6 literal to bind. */
  readonly address: string;
  /** TCP port; 0 asks the OS for one. */
  readonly port: number;
  readonly routes: OpsRoutes;
  readonly logger: Logger;
}

/** Requests whose body exceeds this many bytes are destroyed (bodies are never used). */
export const MAX_REQUEST_BODY_BYTES = 1024;

/** Time allowed for a whole request, headers included. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long an idle keep-alive connection stays open. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Cap on the request head; an ops request needs a fraction of this. */
const MAX_HEADER_BYTES = 8 * 1024;

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** The methods each known path answers (HEAD is served wherever GET is). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  '/metrics': ['GET', 'HEAD'],
  '/healthz': ['GET', 'HEAD'],
  '/readyz': ['GET', 'HEAD'],
  '/reload': ['POST'],
};

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Whether a TCP peer address is loopback: 127.0.0.0/8, `::1`, or an IPv4-mapped loopback
 * (`::ffff:127.x.x.x`). Anything that is not an IP literal is not loopback.
 */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** `host:port`, with IPv6 hosts in brackets. */
function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Sends a complete response; the body is left out for HEAD by node:http itself. */
function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(value)}\n`);
}

/**
 * Starts the operations listener and resolves once it is bound. Rejects, naming `address:port`,
 * when the address cannot be bound (in use, not local, no permission).
 */
export async function startOpsHttpServer(options: OpsHttpServerOptions): Promise<OpsHttpServer> {
  const { routes, logger } = options;
  let reloading = false;

  async function reload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const peer = req.socket.remoteAddress;
    if (!isLoopback(peer)) {
      logger.warn({ event: 'reload-refused', peer }, 'reload refused: the peer is not loopback');
      sendJson(res, 403, { ok: false, problems: ['reload is only accepted from a loopback address'] });
      return;
    }
    if (reloading) {
      sendJson(res, 409, { ok: false, problems: ['a reload is already running'] });
      return;
    }
    reloading = true;
    try {
      const outcome = await routes.reload();
      sendJson(res, outcome.ok ? 200 : 409, outcome.ok ? { ok: true } : { ok: false, problems: outcome.problems });
    } finally {
      reloading = false;
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await routes.metrics();
        send(res, 200, contentType, body);
        return;
      }
      case '/healthz':
        // Answering at all shows the process is alive and its event loop turning.
        send(res, 200, TEXT, 'ok\n');
        return;
      case '/readyz': {
        const { ready, checks } = routes.readiness();
        sendJson(res, ready ? 200 : 503, { ready, checks });
        return;
      }
      case '/reload':
        await reload(req, res);
        return;
      default:
        send(res, 404, TEXT, 'not found\n');
    }
  }

  /** Answers once the request is complete: the body is read, capped and thrown away. */
  function respond(req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    const allowed = ALLOWED[path];
    if (allowed === undefined) {
      send(res, 404, TEXT, 'not found\n');
    } else if (!allowed.includes(method)) {
      send(res, 405, TEXT, 'method not allowed\n', { Allow: allowed.join(', ') });
    } else {
      dispatch(req, res, path).catch((error: unknown) => {
        logger.error({ event: 'ops-route-failed', method, path, err: error }, 'operations route failed');
        send(res, 500, TEXT, 'internal error\n');
      });
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const method = req.method ?? '';
    logger.debug({ event: 'ops-request', method, path, peer: req.socket.remoteAddress }, 'operations request');

    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BODY_BYTES) {
      send(res, 413, TEXT, 'request body too large\n', { Connection: 'close' });
      return;
    }
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_REQUEST_BODY_BYTES) req.destroy();
    });
    req.on('error', () => {
      // The peer went away or sent too much: there is no one left to answer.
    });
    req.on('end', () => respond(req, res, method, path));
  }

  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: 1_000 }, (req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      logger.error({ event: 'ops-route-failed', err: error }, 'operations request failed');
      send(res, 500, TEXT, 'internal error\n');
    }
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  const where = hostPort(options.address, options.port);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new Error(`operations HTTP listener cannot bind ${where}: ${error.code ?? error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen({ host: options.address, port: options.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ event: 'ops-listener-error', err: error }, 'operations HTTP listener error'));

  const bound = server.address() as AddressInfo;
  logger.info({ event: 'ops-listening', address: bound.address, port: bound.port }, 'operations HTTP listener started');

  let closing: Promise<void> | undefined;
  return {
    address: bound.address,
    port: bound.port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
