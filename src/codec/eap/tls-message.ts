/**
 * The Type-Data of an EAP-TLS packet: Flags, optional TLS Message Length, TLS data
 * (RFC 5216 §3.1 and §3.2; the same format carries TLS 1.3 in RFC 9190).
 *
 * ```
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Flags     |      TLS Message Length (present when L is set)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     TLS Message Length        |       TLS Data...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * @module
 */
import assert from 'node:assert';
import { EapTlsFlag } from './tls-flags.ts';

/** Octets of the TLS Message Length field (RFC 5216 §3.1). */
const LENGTH_FIELD_BYTES = 4;

/** One decoded EAP-TLS Type-Data. `fragment` is a view into the decoded buffer, not a copy. */
export interface EapTlsData {
  /** L: a TLS Message Length field was present. */
  readonly length: boolean;
  /** M: more fragments follow. */
  readonly more: boolean;
  /** S: EAP-TLS Start. */
  readonly start: boolean;
  /** The total length of the TLS message being fragmented, when L is set. */
  readonly tlsMessageLength: number | undefined;
  /** The TLS data carried by this packet (possibly empty, e.g. a fragment ACK). */
  readonly fragment: Buffer;
}

/** Why {@link decodeEapTlsData} refused a Type-Data; each value is a stable metric label. */
export const EapTlsDecodeFailure = {
  /** No Flags octet. */
  Empty: 'empty',
  /** L is set but fewer than four octets follow the Flags octet. */
  LengthFlagTruncated: 'length-flag-truncated',
} as const;

/** One of {@link EapTlsDecodeFailure}'s values. */
export type EapTlsDecodeFailure = (typeof EapTlsDecodeFailure)[keyof typeof EapTlsDecodeFailure];

/** The result of {@link decodeEapTlsData}. */
export type EapTlsDecodeResult =
  | ({ readonly ok: true } & EapTlsData)
  | { readonly ok: false; readonly reason: EapTlsDecodeFailure };

/**
 * Decodes the Type-Data of an EAP-TLS Request or Response. Total: never throws.
 *
 * Reserved flag bits are ignored (RFC 5216 §3.1). Whether the flags make sense together (a
 * peer sending S, data in a Start) is the method's concern, not the codec's.
 */
export function decodeEapTlsData(data: Buffer): EapTlsDecodeResult {
  const flags = data[0];
  if (flags === undefined) return { ok: false, reason: EapTlsDecodeFailure.Empty };
  const length = (flags & EapTlsFlag.LengthIncluded) !== 0;
  const more = (flags & EapTlsFlag.MoreFragments) !== 0;
  const start = (flags & EapTlsFlag.Start) !== 0;
  if (!length) return { ok: true, length, more, start, tlsMessageLength: undefined, fragment: data.subarray(1) };
  // RFC 5216 §3.1: the TLS Message Length field is four octets, present only if L is set.
  if (data.length < 1 + LENGTH_FIELD_BYTES) return { ok: false, reason: EapTlsDecodeFailure.LengthFlagTruncated };
  return {
    ok: true,
    length,
    more,
    start,
    tlsMessageLength: data.readUInt32BE(1),
    fragment: data.subarray(1 + LENGTH_FIELD_BYTES),
  };
}

/**
 * Encodes an EAP-TLS Type-Data in one allocation: Flags, then the TLS Message Length field when
 * `tlsMessageLength` is given (setting L), then the fragment. Reserved bits are zero
 * (RFC 5216 §3.1).
 */
export function encodeEapTlsData(opts: {
  start?: boolean;
  more?: boolean;
  tlsMessageLength?: number;
  fragment: Buffer;
}): Buffer {
  const { fragment, tlsMessageLength } = opts;
  const header = tlsMessageLength === undefined ? 1 : 1 + LENGTH_FIELD_BYTES;
  const out = Buffer.allocUnsafe(header + fragment.length);
  let flags = 0;
  if (opts.start === true) flags |= EapTlsFlag.Start;
  if (opts.more === true) flags |= EapTlsFlag.MoreFragments;
  if (tlsMessageLength !== undefined) {
    const valid = Number.isInteger(tlsMessageLength) && tlsMessageLength >= 0 && tlsMessageLength <= 0xffffffff;
    assert.ok(valid, 'TLS Message Length is an unsigned 32-bit integer');
    flags |= EapTlsFlag.LengthIncluded;
    out.writeUInt32BE(tlsMessageLength, 1);
  }
  out[0] = flags;
  fragment.copy(out, header);
  return out;
}
