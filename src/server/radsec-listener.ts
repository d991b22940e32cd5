/**
 * A RadSec listener (RFC 6614): RADIUS over TLS on TCP, 2083 by default. Mutual authentication
 * is required: OpenSSL refuses a peer without a certificate, or with one that does not chain to
 * the RadSec trust anchors, during the handshake (RFC 6614 §2.3); the CRLs and the peer
 * allow-list are checked as soon as the handshake completes, before any packet is read. Packets
 * are framed by their own Length field (RFC 6614 §2.1) and handled like UDP ones, with the
 * peer as the client.
 */
import type { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { RadiusStreamReader } from '../codec/radius/index.ts';
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import { peerChain } from '../tls/peer-chain.ts';
import type { Source } from './request-intake.ts';
import type { RadiusClient } from './client-table.ts';

/** Connections a listener holds at once, handshakes included: bounds what unauthenticated peers can take. */
const MAX_CONNECTIONS = 1024;
/** After a graceful end, how long a peer may take to close its side before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** TLS settings of the listener, read from files by the caller. */
export interface RadsecTlsSettings {
  readonly certificateChain: Buffer;
  readonly privateKey: Buffer;
  readonly privateKeyPassphrase?: string | undefined;
  /** PEM trust anchors (and intermediates) for peer certificates. */
  readonly caCertificates: readonly Buffer[];
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** Who a verified peer is, or why it is refused. */
export type PeerIdentity =
  | { readonly ok: true; readonly client: RadiusClient; readonly maxConnections: number }
  | { readonly ok: false; readonly reason: 'unknown-peer' | 'certificate-revoked' | 'certificate-refused'; readonly detail: string };

/** What the listener needs from the server. */
export interface RadsecListenerOptions {
  readonly address: string;
  readonly port: number;
  readonly tls: RadsecTlsSettings;
  /** Checks a peer's chain (revocation, allow-list); called again for open connections on reload. */
  readonly identify: (chain: readonly X509Certificate[]) => PeerIdentity;
  /** Handles one framed packet from a peer; resolves to the reply or undefined. */
  readonly handle: (packet: Buffer, source: Source, client: RadiusClient) => Promise<Buffer | undefined>;
  /** A connection without traffic for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
}

/** One open, identified connection. */
interface Connection {
  readonly socket: TLSSocket;
  readonly chain: readonly X509Certificate[];
  readonly peer: string;
}

/** A bound RadSec listener. */
export class RadsecListener {
  readonly #server: tls.Server;
  readonly #options: RadsecListenerOptions;
  readonly #connections = new Set<Connection>();

  private constructor(server: tls.Server, options: RadsecListenerOptions) {
    this.#server = server;
    this.#options = options;
    server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket));
    server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
      options.metrics.radsecConnections.inc({ result: 'tls-refused' });
      // A chain that fails verification surfaces as a reset: the verification error says why.
      const why: unknown = socket.authorizationError ?? error.code ?? error.message;
      options.logger.info(
        { event: 'radsec-refused', reason: 'tls-refused', peer: socket.remoteAddress, error: String(why) },
        'RadSec peer refused during the handshake',
      );
    });
  }

  /** Binds the listener (port 0: the OS picks one). */
  static async bind(options: RadsecListenerOptions): Promise<RadsecListener> {
    const server = tls.createServer({
      cert: options.tls.certificateChain,
      key: options.tls.privateKey,
      passphrase: options.tls.privateKeyPassphrase,
      ca: [...options.tls.caCertificates],
      minVersion: options.tls.minVersion,
      maxVersion: options.tls.maxVersion,
      // RFC 6614 §2.3: both sides authenticate with certificates; no certificate, no connection.
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: 10_000,
    });
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new RadsecListener(server, options);
  }

  /** The bound address and port. */
  get address(): { address: string; port: number } {
    const bound = this.#server.address();
    return typeof bound === 'object' && bound !== null ? { address: bound.address, port: bound.port } : { address: '', port: 0 };
  }

  /** Open connections now. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Checks every open connection again (after a reload brought new CRLs or peers) and closes
   * those whose peer is now refused.
   */
  recheck(identify: (chain: readonly X509Certificate[]) => PeerIdentity): number {
    let closed = 0;
    for (const connection of this.#connections) {
      const identity = identify(connection.chain);
      if (identity.ok) continue;
      this.#options.logger.warn({ event: 'radsec-closed', peer: connection.peer, reason: identity.reason, detail: identity.detail }, 'RadSec peer refused after reload: connection closed');
      connection.socket.destroy();
      closed += 1;
    }
    return closed;
  }

  /**
   * Stops accepting and ends every connection once its pending writes are flushed; a peer that
   * does not close its side within a grace period is cut, so that shutdown cannot hang.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const { socket } of this.#connections) {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    await closed;
  }

  #accept(socket: TLSSocket): void {
    const { metrics, logger } = this.#options;
    const chain = peerChain(socket);
    const identity = this.#options.identify(chain);
    if (!identity.ok) {
      metrics.radsecConnections.inc({ result: identity.reason });
      logger.info({ event: 'radsec-refused', reason: identity.reason, detail: identity.detail, peer: socket.remoteAddress }, 'RadSec peer refused');
      socket.destroy();
      return;
    }
    const peer = identity.client.name;
    if ([...this.#connections].filter((c) => c.peer === peer).length >= identity.maxConnections) {
      metrics.radsecConnections.inc({ result: 'connection-limit' });
      logger.warn({ event: 'radsec-refused', reason: 'connection-limit', peer }, 'RadSec peer over its connection limit');
      socket.destroy();
      return;
    }
    const connection: Connection = { socket, chain, peer };
    this.#connections.add(connection);
    metrics.radsecConnections.inc({ result: 'accepted' });
    metrics.radsecOpen.set(this.#connections.size);
    logger.info({ event: 'radsec-connected', peer, address: socket.remoteAddress, tls_version: socket.getProtocol() }, 'RadSec peer connected');

    const source = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const reader = new RadiusStreamReader();
    socket.setTimeout(this.#options.idleTimeoutMs, () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      const framed = reader.push(chunk);
      if (!framed.ok) {
        // RFC 6614 §2.1: a stream whose framing is lost cannot be resynchronised; close it.
        metrics.packetsDropped.inc({ reason: `stream-${framed.reason}` });
        logger.warn({ event: 'radsec-closed', peer, reason: framed.reason }, 'RadSec stream framing error: connection closed');
        socket.destroy();
        return;
      }
      for (const packet of framed.packets) this.#serve(connection, packet, source, identity.client);
    });
    socket.on('error', (error) => logger.debug({ peer, err: error }, 'RadSec connection error'));
    socket.on('close', () => {
      this.#connections.delete(connection);
      metrics.radsecOpen.set(this.#connections.size);
    });
  }

  #serve(connection: Connection, packet: Buffer, source: Source, client: RadiusClient): void {
    const { socket } = connection;
    this.#options.handle(packet, source, client).then(
      (reply) => {
        if (reply === undefined || socket.destroyed) return;
        // Backpressure: a peer that does not read its replies stops being read from.
        if (!socket.write(reply)) {
          socket.pause();
          socket.once('drain', () => socket.resume());
        }
      },
      (error: unknown) => this.#options.logger.error({ err: error, peer: connection.peer }, 'RadSec packet handler failed'),
    );
  }
}
