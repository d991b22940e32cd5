/**
 * A raw UDP sender for tests that feed a server bad input: it sends bytes exactly as given, from
 * a socket bound to a chosen loopback address, and reports the reply or the silence that follows.
 * Unlike the NAS stand-in of radius-client.ts it can send from any 127/8 address (an unknown
 * client), keeps every reply in order (two replies to one request are visible) and never throws
 * on what comes back.
 */
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_REPLY_WINDOW_MS } from './radius-client.ts';

/** How long a probe waits for a reply before it calls the request dropped (the NAS stand-in's window). */
export const SILENCE_MS = NO_REPLY_WINDOW_MS;

/** One UDP socket talking to one server port; replies are queued in arrival order. */
export class UdpProbe {
  readonly #socket: dgram.Socket;
  readonly #port: number;
  readonly #queue: Buffer[] = [];
  #wake: (() => void) | undefined;

  private constructor(socket: dgram.Socket, port: number) {
    this.#socket = socket;
    this.#port = port;
    socket.on('message', (reply) => {
      this.#queue.push(reply);
      this.#wake?.();
    });
  }

  /**
   * Binds a socket to `bindAddress` (any 127/8 address works on Linux loopback) on a port the
   * OS picks, to talk to the server on 127.0.0.1:`port`.
   */
  static async open(port: number, bindAddress = '127.0.0.1'): Promise<UdpProbe> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bindAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpProbe(socket, port);
  }

  /**
   * Sends one datagram as is (an empty one too); resolves once the kernel has it. A reply left
   * over from an earlier exchange is a test failure, not something to read later by mistake.
   */
  async send(datagram: Buffer): Promise<void> {
    const stray = this.#queue.length;
    if (stray !== 0) throw new Error(`${stray} unexpected late reply(ies) queued before this send`);
    await new Promise<void>((resolve, reject) => {
      this.#socket.send(datagram, this.#port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Sends one datagram and resolves to the first reply, or to undefined after `silenceMs` without one. */
  async exchange(datagram: Buffer, silenceMs = SILENCE_MS): Promise<Buffer | undefined> {
    await this.send(datagram);
    return this.next(silenceMs);
  }

  /** The next queued reply, waiting at most `silenceMs` for one. */
  async next(silenceMs = SILENCE_MS): Promise<Buffer | undefined> {
    if (this.#queue.length === 0) {
      const controller = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => (this.#wake = resolve)),
        sleep(silenceMs, undefined, { signal: controller.signal }).catch(() => undefined),
      ]);
      controller.abort();
      this.#wake = undefined;
    }
    return this.#queue.shift();
  }

  /** Every reply until a silence of `silenceMs`. */
  async drain(silenceMs = SILENCE_MS): Promise<Buffer[]> {
    const replies: Buffer[] = [];
    for (let reply = await this.next(silenceMs); reply !== undefined; reply = await this.next(silenceMs)) replies.push(reply);
    return replies;
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}

/** Opens a probe for one test; `t.teardown` closes it. */
export async function openProbe(
  t: { teardown: (fn: () => unknown) => void },
  port: number,
  bindAddress = '127.0.0.1',
): Promise<UdpProbe> {
  const probe = await UdpProbe.open(port, bindAddress);
  t.teardown(() => probe.close());
  return probe;
}
