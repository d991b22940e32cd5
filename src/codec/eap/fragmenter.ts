/**
 * Fragmentation of one TLS message (or flight) into EAP-TLS Type-Data, server to peer
 * (RFC 5216 §2.1.5).
 *
 * @module
 */
import assert from 'node:assert';
import { encodeEapTlsData } from './tls-message.ts';

/** The smallest TLS payload per packet {@link maxTlsFragmentForMtu} returns. */
const MIN_FRAGMENT_BYTES = 64;

/**
 * Octets around the TLS data of one EAP-TLS packet on an 802.1X link:
 * EAPOL header 4 (Version 1, Type 1, Body Length 2; RFC 3580 §3.10)
 * + EAP header 4 (Code, Identifier, Length; RFC 3748 §4) + Type 1
 * + Flags 1 + TLS Message Length 4 (RFC 5216 §3.1).
 */
const PER_PACKET_OVERHEAD = 4 + 4 + 1 + 1 + 4;

/**
 * The largest TLS payload to put in one EAP-TLS Request, from the NAS's Framed-MTU.
 *
 * Framed-MTU is the largest frame between supplicant and NAS; an 802.1X NAS sends EAP packets of
 * at most Framed-MTU minus the 4-octet EAPOL header (RFC 3580 §3.10). Each EAP-TLS packet then
 * spends 10 more octets before its TLS data (EAP header 4, Type 1, Flags 1, TLS Message Length 4,
 * counted on every fragment for simplicity), so the payload is Framed-MTU - 14. Example:
 * eapol_test's Framed-MTU 1400 gives 1386. The result is clamped to [64, ceiling]: 64 keeps a
 * bogus tiny Framed-MTU from turning a flight into hundreds of round trips, and the ceiling is
 * the configured limit that keeps the Access-Challenge within RADIUS's 4096 octets. Without
 * Framed-MTU the ceiling applies.
 *
 * @param framedMtu the Framed-MTU attribute of the Access-Request, if any (RFC 2865 §5.12).
 * @param ceiling the configured largest payload, at least 64.
 */
export function maxTlsFragmentForMtu(framedMtu: number | undefined, ceiling: number): number {
  assert.ok(Number.isSafeInteger(ceiling) && ceiling >= MIN_FRAGMENT_BYTES, 'ceiling must be an integer >= 64');
  if (framedMtu === undefined) return ceiling;
  return Math.min(ceiling, Math.max(MIN_FRAGMENT_BYTES, framedMtu - PER_PACKET_OVERHEAD));
}

/** One packet's worth of a fragmented TLS message. */
export interface TlsFragmentOut {
  /** The encoded EAP-TLS Type-Data: Flags, TLS Message Length on a first fragment, TLS data. */
  readonly data: Buffer;
  /** M: more fragments follow; the peer answers with an empty ACK (RFC 5216 §2.1.5). */
  readonly more: boolean;
}

/**
 * Cuts one TLS message into EAP-TLS Type-Data of at most `maxFragmentBytes` TLS octets each.
 *
 * L is set on the first fragment when, and only when, the message needs more than one packet:
 * RFC 5216 §2.1.5 requires it there, and hostapd's server does the same. M is set on all but the
 * last fragment (RFC 5216 §3.1). A message of 0 octets yields one packet with no TLS data.
 * Fragments are views into `message`; each packet's encoding is one small allocation.
 */
export class TlsFragmenter {
  readonly #message: Buffer;
  readonly #maxFragmentBytes: number;
  #offset = 0;
  #started = false;

  /**
   * @param message the TLS message or flight to send; not copied, so keep it unchanged.
   * @param maxFragmentBytes TLS octets per packet, e.g. from {@link maxTlsFragmentForMtu}.
   */
  constructor(message: Buffer, maxFragmentBytes: number) {
    assert.ok(Number.isSafeInteger(maxFragmentBytes) && maxFragmentBytes > 0, 'maxFragmentBytes must be a positive integer');
    this.#message = message;
    this.#maxFragmentBytes = maxFragmentBytes;
  }

  /** True once the last fragment has been handed out. */
  get done(): boolean {
    return this.#started && this.#offset === this.#message.length;
  }

  /** TLS octets not yet handed out. */
  get remaining(): number {
    return this.#message.length - this.#offset;
  }

  /** The next packet's Type-Data. Calling it when {@link done} is a caller bug (assertion). */
  next(): TlsFragmentOut {
    assert.ok(!this.done, 'TlsFragmenter.next() called after the last fragment');
    const message = this.#message;
    const end = Math.min(message.length, this.#offset + this.#maxFragmentBytes);
    const more = end < message.length;
    // RFC 5216 §2.1.5: L MUST be set on the first fragment of a fragmented message.
    const tlsMessageLength = !this.#started && more ? message.length : undefined;
    const data = encodeEapTlsData({ more, tlsMessageLength, fragment: message.subarray(this.#offset, end) });
    this.#offset = end;
    this.#started = true;
    return { data, more };
  }
}
