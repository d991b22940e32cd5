/**
 * A RADIUS UDP listener (RFC 2865 §3): one datagram in, at most one datagram back to the
 * source address and port. Requests are handled concurrently; the socket never waits on one.
 */
import dgram from 'node:dgram';
import type { Logger } from '../obs/logger.ts';
import type { Source } from './access-handler.ts';

/** Handles one datagram; resolves to the reply or undefined. */
export type DatagramHandler = (datagram: Buffer, source: Source) => Promise<Buffer | undefined>;

/** A bound UDP socket feeding a handler. */
export class UdpListener {
  readonly #socket: dgram.Socket;
  readonly #handler: DatagramHandler;
  readonly #logger: Logger;

  private constructor(socket: dgram.Socket, handler: DatagramHandler, logger: Logger) {
    this.#socket = socket;
    this.#handler = handler;
    this.#logger = logger;
    socket.on('message', (datagram, remote) => this.#receive(datagram, { address: remote.address, port: remote.port }));
    socket.on('error', (error) => logger.error({ err: error }, 'UDP socket error'));
  }

  /** Binds `address:port` (port 0: the OS picks one) and starts serving. */
  static async bind(address: string, port: number, family: 4 | 6, handler: DatagramHandler, logger: Logger): Promise<UdpListener> {
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpListener(socket, handler, logger);
  }

  /** The bound address and port. */
  get address(): { address: string; port: number } {
    const bound = this.#socket.address();
    return { address: bound.address, port: bound.port };
  }

  /** Stops receiving. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #receive(datagram: Buffer, source: Source): void {
    this.#handler(datagram, source).then(
      (reply) => {
        if (reply !== undefined) this.#socket.send(reply, source.port, source.address);
      },
      (error: unknown) => this.#logger.error({ err: error }, 'datagram handler failed'),
    );
  }
}
