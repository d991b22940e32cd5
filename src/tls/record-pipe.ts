/**
 * The in-memory transport under a server TLSSocket: records from the peer are pushed in, records
 * the TLS stack writes are collected until the EAP-TLS method takes them.
 */
import { Duplex } from 'node:stream';

/** A duplex stream that stands in for the network under `node:tls`. */
export class RecordPipe extends Duplex {
  #output: Buffer[] = [];
  #outputBytes = 0;
  #ended = false;

  /** True once the TLS stack ended or destroyed the transport (a failed or closed handshake). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes written by the TLS stack and not yet taken. */
  get pendingBytes(): number {
    return this.#outputBytes;
  }

  /** Feeds records from the peer to the TLS stack. */
  deliver(records: Buffer): void {
    this.push(records);
  }

  /** Takes everything the TLS stack wrote so far, as one buffer. */
  takeOutput(): Buffer {
    const taken = this.#output.length === 1 ? this.#output[0]! : Buffer.concat(this.#output, this.#outputBytes);
    this.#output = [];
    this.#outputBytes = 0;
    return taken;
  }

  override _read(): void {
    // Records are pushed by deliver(); nothing to pull.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#output.push(chunk);
    this.#outputBytes += chunk.length;
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#ended = true;
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#ended = true;
    callback(error);
  }
}
