/**
 * A RADIUS UDP listener (RFC 2865 §3): one datagram in, at most one datagram back to the
 * source address and port. Requests are handled concurrently; the socket never waits on one.
 * Closing stops taking datagrams, lets the requests being handled send their replies (an
 * accounting record stored is a record answered), then closes the socket.
 */
import dgram from 'node:dgram';
import type { Logger } from '../obs/logger.ts';
import type { Source } from './request-intake.ts';

/** Handles one datagram; resolves to the reply or undefined. */
export type DatagramHandler = (datagram: Buffer, source: Source) => Promise<Buffer | undefined>;

/** How long {@link UdpListener.close} waits for requests being handled before closing anyway. */
const CLOSE_GRACE_MS = 5_000;

/**
 * The socket receive buffer asked for (SO_RCVBUF; Linux doubles it for its bookkeeping and caps
 * it at `net.core.rmem_max`). The default, 208 KiB, holds about 90 full-size Access-Requests: 96
 * conversations at once overflowed it while a handshake step ran, and the lost datagrams cost
 * their NAS a retransmission timeout (bench, `RcvbufErrors` in /proc/net/snmp). 1 MiB holds about
 * 450, a second and a half of work at saturation; older requests would be retransmitted anyway.
 */
export const RECEIVE_BUFFER_BYTES = 1 << 20;

/** A bound UDP socket feeding a handler. */
export class UdpListener {
  readonly #socket: dgram.Socket;
  readonly #handler: DatagramHandler;
  readonly #logger: Logger;
  /** Requests being handled, settled or not: {@link close} waits for them. */
  readonly #inFlight = new Set<Promise<void>>();
  #state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(socket: dgram.Socket, handler: DatagramHandler, logger: Logger) {
    this.#socket = socket;
    this.#handler = handler;
    this.#logger = logger;
    socket.on('message', (datagram, remote) => this.#receive(datagram, { address: remote.address, port: remote.port }));
    socket.on('error', (error) => logger.error({ err: error }, 'UDP socket error'));
  }

  /** Binds `address:port` (port 0: the OS picks one) and starts serving. */
  static async bind(address: string, port: number, family: 4 | 6, handler: DatagramHandler, logger: Logger): Promise<UdpListener> {
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, recvBufferSize: RECEIVE_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpListener(socket, handler, logger);
  }

  /**
   * The receive buffer the kernel granted, comparable with {@link RECEIVE_BUFFER_BYTES}: Linux
   * reports twice what was set (the other half is its bookkeeping), so that is halved.
   */
  get receiveBufferBytes(): number {
    return this.#socket.getRecvBufferSize() / (process.platform === 'linux' ? 2 : 1);
  }

  /** The bound address and port. */
  get address(): { address: string; port: number } {
    const bound = this.#socket.address();
    return { address: bound.address, port: bound.port };
  }

  /**
   * Stops taking datagrams, waits up to `graceMs` for the requests being handled to send their
   * replies, then closes the socket. Later replies are not sent.
   */
  async close(graceMs: number = CLOSE_GRACE_MS): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
    clearTimeout(timer);
    this.#state = 'closed';
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #receive(datagram: Buffer, source: Source): void {
    if (this.#state !== 'open') return;
    const handled: Promise<void> = this.#handler(datagram, source)
      .then((reply) => this.#send(reply, source))
      .catch((error: unknown) => this.#logger.error({ err: error }, 'datagram handler failed'))
      .finally(() => this.#inFlight.delete(handled));
    this.#inFlight.add(handled);
  }

  /** Sends a reply; resolves once the socket has sent it (or failed to), so that close waits for it. */
  async #send(reply: Buffer | undefined, source: Source): Promise<void> {
    if (reply === undefined || this.#state === 'closed') return;
    await new Promise<void>((resolve) => {
      this.#socket.send(reply, source.port, source.address, (error) => {
        if (error) this.#logger.warn({ err: error, address: source.address, port: source.port }, 'reply not sent');
        resolve();
      });
    });
  }
}
