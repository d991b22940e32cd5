/**
 * The JSON-lines {@link AccountingSink}: one line per stored record, appended to a file opened in
 * append mode. Writes are serialised; the lines waiting while one write runs go out together in
 * the next, so each line is written whole by one `write(2)` on an O_APPEND descriptor and lines
 * never interleave. A record's promise resolves once its line is in the file (page cache; no
 * fsync). Nothing secret is in a record, so nothing secret is in the file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { AccountingRecord, AccountingSink } from './ports.ts';

interface Pending {
  readonly line: string;
  readonly done: () => void;
  readonly fail: (error: unknown) => void;
}

/** Appends accounting records to a file, one JSON object per line. */
export class JsonlAccountingSink implements AccountingSink {
  readonly #file: FileHandle;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;

  private constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Opens (creating it if needed, mode 0640) `path` for appending. Rejects when it cannot. */
  static async open(path: string): Promise<JsonlAccountingSink> {
    return new JsonlAccountingSink(await open(path, 'a', 0o640));
  }

  write(record: AccountingRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('accounting sink is closed'));
    return new Promise<void>((done, fail) => {
      this.#pending.push({ line: `${JSON.stringify(sinkLine(record))}\n`, done, fail });
      this.#flushing ??= this.#flush();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    await this.#file.close();
  }

  /** Writes batches until none waits. */
  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await writeAll(this.#file, Buffer.from(batch.map((entry) => entry.line).join(''), 'utf8'));
        for (const entry of batch) entry.done();
      } catch (error) {
        for (const entry of batch) entry.fail(error);
      }
    }
    this.#flushing = undefined;
  }
}

/** Writes every byte: a short write (rare, e.g. a signal) continues at the end of the file. */
async function writeAll(file: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/** The line of a record: snake_case keys, times as ISO 8601, absent fields left out. */
function sinkLine(record: AccountingRecord): Record<string, unknown> {
  return {
    timestamp: new Date(record.receivedAt).toISOString(),
    event_time: new Date(record.eventAt).toISOString(),
    client: record.client,
    status: record.status,
    status_type: record.statusType,
    session_id: record.sessionId,
    user_name: record.userName,
    calling_station_id: record.callingStationId,
    called_station_id: record.calledStationId,
    nas_ip_address: record.nasIpAddress,
    nas_identifier: record.nasIdentifier,
    nas_port: record.nasPort,
    session_time: record.sessionTime,
    input_octets: record.inputOctets,
    output_octets: record.outputOctets,
    input_packets: record.inputPackets,
    output_packets: record.outputPackets,
    terminate_cause: record.terminateCause,
  };
}
