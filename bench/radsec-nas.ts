/**
 * A RadSec NAS for the load generator (RFC 6614): one TLS connection carrying many conversations
 * at once, requests told apart by their RADIUS Identifier (at most 256 in flight), each reply
 * checked like a strict NAS checks it.
 */
import tls from 'node:tls';
import { PacketCode, RadiusStreamReader, decodePacket, encodeRequest, type RadiusAttribute } from '../src/codec/radius/index.ts';
import { verifyAccessReply, type RadiusExchange } from '../test/support/radius-client.ts';
import type { AccessExchanger } from '../test/support/supplicant.ts';

/** RFC 6614 §2.3: the shared secret inside RadSec is "radsec". */
const RADSEC_SECRET = Buffer.from('radsec');
const HEADER_LENGTH = 20;

/** Options of {@link RadsecNas.connect}. */
export interface RadsecNasOptions {
  readonly port: number;
  /** PEM: the NAS certificate and chain, its key, and the CA the server certificate chains to. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** Name checked against the server certificate. */
  readonly serverName: string;
  /** How long a reply is awaited. */
  readonly timeoutMs: number;
}

interface Waiting {
  readonly resolve: (reply: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One RadSec connection shared by every conversation of the load. */
export class RadsecNas implements AccessExchanger {
  readonly #socket: tls.TLSSocket;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, Waiting>();
  /** Callers waiting for a free Identifier. */
  readonly #queue: (() => void)[] = [];
  readonly #reader = new RadiusStreamReader();
  #next = 0;

  private constructor(socket: tls.TLSSocket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('close', () => this.#failAll(new Error('RadSec connection closed')));
    socket.on('error', () => undefined);
  }

  /** Connects and completes the TLS handshake. */
  static async connect(options: RadsecNasOptions): Promise<RadsecNas> {
    const socket = tls.connect({ host: '127.0.0.1', port: options.port, cert: options.cert, key: options.key, ca: options.ca, servername: options.serverName });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RadsecNas(socket, options.timeoutMs);
  }

  async exchange(attributes: readonly RadiusAttribute[]): Promise<RadiusExchange> {
    const identifier = await this.#freeIdentifier();
    const request = encodeRequest({ code: PacketCode.AccessRequest, identifier, attributes, secret: RADSEC_SECRET });
    const authenticator = request.subarray(4, HEADER_LENGTH);
    const decoded = decodePacket(request);
    if (!decoded.ok) throw new Error(`the codec cannot decode its own request: ${decoded.reason}`);
    const datagram = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#release(identifier);
        reject(new Error(`no RadSec reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiting.set(identifier, { resolve, reject, timer });
      this.#socket.write(request);
    });
    const reply = verifyAccessReply(datagram, { identifier, authenticator }, RADSEC_SECRET, false);
    return { request, requestPacket: decoded.packet, requestAuthenticator: authenticator, reply };
  }

  /** Closes the connection. */
  close(): void {
    this.#socket.destroy();
  }

  async #freeIdentifier(): Promise<number> {
    for (;;) {
      for (let tried = 0; tried < 256; tried++) {
        const identifier = this.#next;
        this.#next = (this.#next + 1) & 0xff;
        if (!this.#waiting.has(identifier)) return identifier;
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    }
  }

  #release(identifier: number): void {
    const waiting = this.#waiting.get(identifier);
    if (waiting !== undefined) clearTimeout(waiting.timer);
    this.#waiting.delete(identifier);
    this.#queue.shift()?.();
  }

  /** RFC 6614 §2.1: packets follow one another on the stream, each sized by its Length field. */
  #read(chunk: Buffer): void {
    const framed = this.#reader.push(chunk);
    if (!framed.ok) {
      this.#socket.destroy(new Error(`RadSec stream: ${framed.reason}`));
      return;
    }
    for (const packet of framed.packets) {
      const waiting = this.#waiting.get(packet[1]!);
      if (waiting === undefined) continue;
      this.#release(packet[1]!);
      waiting.resolve(packet);
    }
  }

  #failAll(error: Error): void {
    for (const [identifier, waiting] of this.#waiting) {
      this.#release(identifier);
      waiting.reject(error);
    }
  }
}
