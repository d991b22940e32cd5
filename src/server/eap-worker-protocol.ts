/**
 * The messages between the main thread and the EAP worker threads, and the routing rule that
 * sends every packet of a conversation to the worker holding its TLS state.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ConfigSource } from '../config/index.ts';
import type { RadiusClient } from './client-table.ts';
import type { Source } from './request-intake.ts';

/** What a worker is started with (`workerData`). */
export interface WorkerSetup {
  /** The worker's index; also the first State octet of its conversations. */
  readonly index: number;
  /** Workers in the pool: each gets its share of `eap.max_sessions`. */
  readonly workers: number;
  readonly source: ConfigSource;
  /** Session ticket keys shared by every worker, so that any of them resumes any ticket. */
  readonly ticketKeys: Uint8Array;
}

/** Main thread to worker. */
export type ToWorker =
  | { readonly kind: 'request'; readonly id: number; readonly datagram: Uint8Array; readonly source: Source; readonly client: RadiusClient | undefined }
  | { readonly kind: 'reload'; readonly id: number; readonly source: ConfigSource }
  | { readonly kind: 'metrics'; readonly id: number }
  | { readonly kind: 'session'; readonly id: number; readonly session: Uint8Array | undefined }
  | { readonly kind: 'drain' };

/** Worker to main thread. */
export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly id: number; readonly reply: Uint8Array | undefined; readonly sessions: number }
  | { readonly kind: 'reloaded'; readonly id: number; readonly error: string | undefined }
  | { readonly kind: 'metrics'; readonly id: number; readonly metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { readonly kind: 'sessions'; readonly sessions: number }
  | { readonly kind: 'log'; readonly line: string }
  | { readonly kind: 'session-get'; readonly id: number; readonly key: string }
  | { readonly kind: 'session-set'; readonly key: string; readonly session: Uint8Array; readonly ttlSeconds: number };

const HEADER_OCTETS = 20;
/** RFC 2865 §5.24. */
const STATE_TYPE = 24;
/** The State values this server sends: 16 octets, in an attribute of 18. */
const STATE_ATTRIBUTE_OCTETS = 18;

/**
 * The worker a request goes to, of `workers`. A request with a State this server issued goes to
 * the worker named by its first octet; any other (the first packet of a conversation, a
 * Status-Server, or bytes that do not parse) goes by its Request Authenticator, so that a
 * retransmission reaches the worker holding the cached reply. Never throws.
 */
export function routeRequest(datagram: Uint8Array, workers: number): number {
  if (datagram.length < HEADER_OCTETS) return 0;
  const end = Math.min(datagram.length, (datagram[2]! << 8) | datagram[3]!);
  for (let at = HEADER_OCTETS; at + 2 <= end; ) {
    const length = datagram[at + 1]!;
    if (length < 2) break;
    if (datagram[at] === STATE_TYPE && length === STATE_ATTRIBUTE_OCTETS && at + length <= end) {
      const tag = datagram[at + 2]!;
      if (tag < workers) return tag;
      break;
    }
    at += length;
  }
  const authenticator = ((datagram[4]! << 24) | (datagram[5]! << 16) | (datagram[6]! << 8) | datagram[7]!) >>> 0;
  return authenticator % workers;
}

/** A copy of `bytes` in an ArrayBuffer of its own, to transfer without cloning a larger pool. */
export function ownCopy(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}

/** A Buffer over bytes that arrived in a message (they arrive as a plain Uint8Array). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
