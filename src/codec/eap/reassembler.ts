/**
 * Size-capped reassembly of one TLS message from EAP-TLS fragments, peer to server
 * (RFC 5216 §2.1.5).
 *
 * @module
 */
import assert from 'node:assert';
import type { EapTlsData } from './tls-message.ts';

/** Why {@link TlsReassembler.add} gave up on a message; each value is a stable metric label. */
export const ReassemblyFailure = {
  /** The first fragment of a fragmented message has M set but no L (RFC 5216 §2.1.5). */
  FirstFragmentWithoutLength: 'first-fragment-without-length',
  /** The declared (or, unfragmented, actual) message length is above the configured cap. */
  MessageTooLarge: 'message-too-large',
  /** More octets arrived, or were announced with M, than the declared length allows. */
  ExceedsDeclaredLength: 'exceeds-declared-length',
  /** The last fragment (M clear) left the message shorter than its declared length. */
  LengthMismatch: 'length-mismatch',
  /** A later fragment carries an L value different from the first fragment's. */
  InconsistentLength: 'inconsistent-length',
  /** A fragment with no TLS data inside a fragmented message; it would make no progress. */
  EmptyFragment: 'empty-fragment',
} as const;

/** One of {@link ReassemblyFailure}'s values. */
export type ReassemblyFailure = (typeof ReassemblyFailure)[keyof typeof ReassemblyFailure];

/** What {@link TlsReassembler.add} needs of a decoded EAP-TLS Type-Data. */
export type TlsFragment = Pick<EapTlsData, 'more' | 'tlsMessageLength' | 'fragment'>;

/** The result of {@link TlsReassembler.add}. */
export type ReassemblyResult =
  | { readonly status: 'complete'; readonly message: Buffer }
  | { readonly status: 'need-more' }
  | { readonly status: 'error'; readonly reason: ReassemblyFailure };

const NEED_MORE: ReassemblyResult = { status: 'need-more' };

/**
 * Joins the fragments of one TLS message (or flight) sent by the peer. One instance per
 * conversation; it is ready for the next message after each `complete` or `error`.
 *
 * Rules (RFC 5216 §2.1.5, §3.1):
 * - A message in one packet (M clear, nothing in progress) is returned as is, a view of the
 *   fragment with no copy; an empty one too (the method tells a fragment ACK from it). If it
 *   carries L, L must equal its length.
 * - The first fragment of a fragmented message must carry L, the total length. L is checked
 *   against the cap before anything is allocated; then exactly L octets are allocated, once.
 * - Later fragments may repeat L (the RFC only requires it on the first); a different value is
 *   refused. Every fragment of a fragmented message must carry data.
 * - With M set the octets so far must stay below L; with M clear they must equal L.
 * - Any error discards the partial message; the caller ends the conversation.
 */
export class TlsReassembler {
  readonly #maxMessageBytes: number;
  #buffer: Buffer | undefined;
  #received = 0;

  /** @param maxMessageBytes the largest TLS message accepted, in octets. */
  constructor(maxMessageBytes: number) {
    const valid = Number.isSafeInteger(maxMessageBytes) && maxMessageBytes >= 0;
    assert.ok(valid, 'maxMessageBytes must be a non-negative integer');
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** True between the first fragment of a fragmented message and its last fragment or an error. */
  get inProgress(): boolean {
    return this.#buffer !== undefined;
  }

  /** Discards any partial message. */
  reset(): void {
    this.#buffer = undefined;
    this.#received = 0;
  }

  /** Takes the next fragment from the peer. Total: never throws on peer input. */
  add(f: TlsFragment): ReassemblyResult {
    const result = this.#buffer === undefined ? this.#first(f) : this.#next(this.#buffer, f);
    if (result.status !== 'need-more') this.reset();
    return result;
  }

  #first({ more, tlsMessageLength, fragment }: TlsFragment): ReassemblyResult {
    if (tlsMessageLength === undefined) {
      // RFC 5216 §2.1.5: L MUST be set on the first fragment of a fragmented message.
      if (more) return fail(ReassemblyFailure.FirstFragmentWithoutLength);
      return fragment.length > this.#maxMessageBytes ? fail(ReassemblyFailure.MessageTooLarge) : complete(fragment);
    }
    if (tlsMessageLength > this.#maxMessageBytes) return fail(ReassemblyFailure.MessageTooLarge);
    if (!more) return checkFinal(fragment.length, tlsMessageLength) ?? complete(fragment);
    if (fragment.length === 0) return fail(ReassemblyFailure.EmptyFragment);
    if (fragment.length >= tlsMessageLength) return fail(ReassemblyFailure.ExceedsDeclaredLength);
    this.#buffer = Buffer.allocUnsafe(tlsMessageLength);
    this.#received = fragment.copy(this.#buffer);
    return NEED_MORE;
  }

  #next(buffer: Buffer, { more, tlsMessageLength, fragment }: TlsFragment): ReassemblyResult {
    if (tlsMessageLength !== undefined && tlsMessageLength !== buffer.length) {
      return fail(ReassemblyFailure.InconsistentLength);
    }
    if (fragment.length === 0) return fail(ReassemblyFailure.EmptyFragment);
    const end = this.#received + fragment.length;
    if (more) {
      if (end >= buffer.length) return fail(ReassemblyFailure.ExceedsDeclaredLength);
    } else {
      const failure = checkFinal(end, buffer.length);
      if (failure !== undefined) return failure;
    }
    this.#received += fragment.copy(buffer, this.#received);
    return more ? NEED_MORE : complete(buffer);
  }
}

/** A last fragment must bring the total to exactly the declared length. */
function checkFinal(total: number, declared: number): ReassemblyResult | undefined {
  if (total > declared) return fail(ReassemblyFailure.ExceedsDeclaredLength);
  if (total < declared) return fail(ReassemblyFailure.LengthMismatch);
  return undefined;
}

function fail(reason: ReassemblyFailure): ReassemblyResult {
  return { status: 'error', reason };
}

function complete(message: Buffer): ReassemblyResult {
  return { status: 'complete', message };
}
