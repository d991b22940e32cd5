/**
 * The in-memory transport under the test supplicants' client TLSSocket: records from the server
 * are pushed in, records the TLS stack writes are collected until the supplicant sends them.
 */
import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** A duplex stream that stands in for the network under `node:tls`. */
export class RecordPipe extends Duplex {
  #output: Buffer[] = [];
  #outputBytes = 0;

  /** Bytes written by the TLS stack and not yet taken. */
  get pendingBytes(): number {
    return this.#outputBytes;
  }

  /** Feeds records from the peer to the TLS stack. */
  deliver(records: Buffer): void {
    this.push(records);
  }

  /** Waits until the TLS stack has been quiet for two event-loop turns (it writes asynchronously). */
  async settle(): Promise<void> {
    let before = -1;
    while (before !== this.#outputBytes) {
      before = this.#outputBytes;
      await nextTurn();
      await nextTurn();
    }
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
}
