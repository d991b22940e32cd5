/**
 * A RadSec peer stand-in (RFC 6614) on a real node:tls socket on loopback: it presents a
 * certificate (or none), writes raw bytes as given (whole packets, many in one write, or any
 * cut of a stream) and collects the replies, framed by their own Length field with a framer of
 * its own, so that the server's stream reader is not what checks itself.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { PacketCode, encodeRequest } from '../../src/codec/radius/index.ts';

/** Loopback: no test reaches outside it. */
const LOOPBACK = '127.0.0.1';
/** The server's name in the dev PKI's server certificate. */
const SERVER_NAME = 'radius.portcullis.test';
/** How long a reply or a close is awaited by default. Generous: two tap jobs share a small machine. */
const DEFAULT_WAIT_MS = 5_000;

/** Certificate files of a peer: the chain it sends and its key. */
export interface PeerFiles {
  readonly chain: string;
  readonly key: string;
}

/** Options of {@link RadsecTestClient.connect}. */
export interface RadsecConnectOptions {
  readonly port: number;
  /** The CA the server certificate must chain to. */
  readonly caCert: string;
  /** The peer's certificate; undefined: none is sent. */
  readonly peer: PeerFiles | undefined;
  readonly minVersion?: tls.SecureVersion;
  readonly maxVersion?: tls.SecureVersion;
}

/** How the server treated a connection: the handshake result and what followed a probe. */
export interface ConnectionOutcome {
  /** The client side of the handshake completed (in TLS 1.3 it does before the server checks the client). */
  readonly handshake: boolean;
  /** The Status-Server sent at once (whether the server read it or not). */
  readonly request: Buffer;
  /** Its reply, if one came. */
  readonly reply: Buffer | undefined;
  /** The server closed the connection within the wait. */
  readonly closed: boolean;
  /** The client-side error code, if any (e.g. `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, `ECONNRESET`). */
  readonly error: string | undefined;
}

/** A Status-Server (RFC 5997) signed with `secret`, with the Message-Authenticator it must carry. */
export function statusServer(identifier: number, secret: string): Buffer {
  return encodeRequest({ code: PacketCode.StatusServer, identifier, attributes: [], secret: Buffer.from(secret, 'utf8') });
}

/** One open RadSec connection. */
export class RadsecTestClient {
  readonly socket: tls.TLSSocket;
  /** Resolves when the socket is closed, by either side. */
  readonly closed: Promise<void>;
  readonly #replies: Buffer[] = [];
  #pending = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #isClosed = false;
  #error: string | undefined;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      while (this.#pending.length >= 4) {
        const length = this.#pending.readUInt16BE(2);
        if (length < 4 || this.#pending.length < length) break;
        this.#replies.push(this.#pending.subarray(0, length));
        this.#pending = this.#pending.subarray(length);
      }
      this.#wake?.();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#error ??= error.code ?? error.message;
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake?.();
        resolve();
      }),
    );
  }

  /**
   * Connects and completes the client side of the handshake; rejects with the TLS error when it
   * fails (a TLS 1.2 server refuses a client certificate during the handshake).
   */
  static async connect(options: RadsecConnectOptions): Promise<RadsecTestClient> {
    const socket = tls.connect({
      host: LOOPBACK,
      port: options.port,
      servername: SERVER_NAME,
      ca: readFileSync(options.caCert),
      ...(options.peer === undefined ? {} : { cert: readFileSync(options.peer.chain), key: readFileSync(options.peer.key) }),
      ...(options.minVersion === undefined ? {} : { minVersion: options.minVersion }),
      ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
    });
    const client = new RadsecTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      socket.once('error', fail);
      socket.once('close', () => reject(new Error(`closed during the handshake (${client.#error ?? 'no error'})`)));
      socket.once('secureConnect', () => {
        socket.off('error', fail);
        resolve();
      });
    });
    return client;
  }

  /**
   * Connects, sends a Status-Server signed with `secret` and reports the handshake, the reply and
   * whether the server closed the connection within `waitMs`. Never rejects; closes the socket.
   */
  static async probe(options: RadsecConnectOptions, secret: string, waitMs = DEFAULT_WAIT_MS): Promise<ConnectionOutcome> {
    const request = statusServer(1, secret);
    let client: RadsecTestClient;
    try {
      client = await RadsecTestClient.connect(options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return { handshake: false, request, reply: undefined, closed: true, error: code };
    }
    await client.write(request).catch(() => undefined);
    const reply = await client.nextReply(waitMs).catch(() => undefined);
    const closed = reply === undefined && client.isClosed;
    client.socket.destroy();
    await client.closed;
    return { handshake: true, request, reply, closed, error: client.#error };
  }

  /** Whether the socket is closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Replies received and not taken yet. */
  get queued(): number {
    return this.#replies.length;
  }

  /** Writes bytes as given, in one write; resolves once they are handed to the socket. */
  async write(bytes: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => this.socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  /** Takes the next reply; rejects after `timeoutMs`, or at once when the connection is closed. */
  async nextReply(timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.#replies.shift();
      if (reply !== undefined) return reply;
      if (this.#isClosed) throw new Error(`connection closed (${this.#error ?? 'no error'})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Takes the next `count` replies, in arrival order. */
  async replies(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    const replies: Buffer[] = [];
    while (replies.length < count) replies.push(await this.nextReply(Math.max(1, deadline - Date.now())));
    return replies;
  }

  /** Resolves true when the server closes the connection within `timeoutMs`, false otherwise. */
  async closedWithin(timeoutMs = DEFAULT_WAIT_MS): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([this.closed.then(() => true as const), timeout]);
    clearTimeout(timer);
    return result;
  }

  /** Closes the connection from this side. */
  async close(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }
}
