/**
 * The EAP packet: header, Type octet and Type-Data (RFC 3748 §4).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Code      |  Identifier   |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |  Type-Data ...  (Request and Response only)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * @module
 */
import assert from 'node:assert';

/** EAP Codes (RFC 3748 §4). */
export const EapCode = { Request: 1, Response: 2, Success: 3, Failure: 4 } as const;

/** One of {@link EapCode}'s values. */
export type EapCode = (typeof EapCode)[keyof typeof EapCode];

/** EAP method Types this server names (RFC 3748 §5, IANA "Method Types"). */
export const EapType = { Identity: 1, Notification: 2, Nak: 3, Md5Challenge: 4, Tls: 13, Ttls: 21, Peap: 25, Expanded: 254 } as const;

/** One of {@link EapType}'s values. */
export type EapType = (typeof EapType)[keyof typeof EapType];

/** A decoded EAP packet. `data` is a view into the decoded buffer, not a copy. */
export interface EapPacket {
  /** Request, Response, Success or Failure. */
  readonly code: EapCode;
  /** Matches Responses to Requests (RFC 3748 §4.1). */
  readonly identifier: number;
  /** The method Type (any octet); `undefined` for Success and Failure. */
  readonly type: number | undefined;
  /** The Type-Data: the octets after the Type octet, up to Length; empty for Success and Failure. */
  readonly data: Buffer;
}

/** Why {@link decodeEap} refused a buffer; each value is a stable metric label. */
export const EapDecodeFailure = {
  /** Fewer than 4 octets, or a Length field below 4 (smaller than the header itself). */
  TooShort: 'too-short',
  /** The Length field claims more octets than the buffer holds. */
  LengthMismatch: 'length-mismatch',
  /** A Code other than Request, Response, Success or Failure. */
  UnknownCode: 'unknown-code',
  /** A Request or Response whose Length leaves no room for the Type octet. */
  MissingType: 'missing-type',
  /** A Success or Failure whose Length is not 4. */
  SuccessFailureWithData: 'success-failure-with-data',
} as const;

/** One of {@link EapDecodeFailure}'s values. */
export type EapDecodeFailure = (typeof EapDecodeFailure)[keyof typeof EapDecodeFailure];

/** The result of {@link decodeEap}. */
export type EapDecodeResult =
  | { readonly ok: true; readonly packet: EapPacket }
  | { readonly ok: false; readonly reason: EapDecodeFailure };

const HEADER_BYTES = 4;
const NO_DATA = Buffer.alloc(0);

/**
 * Decodes one EAP packet. Total: never throws, whatever the bytes.
 *
 * Octets beyond the Length field are ignored as link-layer padding (RFC 3748 §4.1), so the
 * result depends only on the first Length octets. `packet.data` is a subarray of `buf`.
 */
export function decodeEap(buf: Buffer): EapDecodeResult {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: EapDecodeFailure.TooShort };
  const code = buf[0] as number;
  const identifier = buf[1] as number;
  const length = buf.readUInt16BE(2);
  // RFC 3748 §4.1: Length counts Code, Identifier, Length, Type and Data.
  if (length < HEADER_BYTES) return { ok: false, reason: EapDecodeFailure.TooShort };
  // RFC 3748 §4.1: a packet shorter than its Length is invalid; longer means padding.
  if (length > buf.length) return { ok: false, reason: EapDecodeFailure.LengthMismatch };
  switch (code) {
    case EapCode.Request:
    case EapCode.Response:
      // RFC 3748 §4.1: the Type field is one octet and is always present.
      if (length === HEADER_BYTES) return { ok: false, reason: EapDecodeFailure.MissingType };
      return {
        ok: true,
        packet: { code, identifier, type: buf[HEADER_BYTES] as number, data: buf.subarray(HEADER_BYTES + 1, length) },
      };
    case EapCode.Success:
    case EapCode.Failure:
      // RFC 3748 §4.2: Success and Failure have Length 4 and no data.
      if (length !== HEADER_BYTES) return { ok: false, reason: EapDecodeFailure.SuccessFailureWithData };
      return { ok: true, packet: { code, identifier, type: undefined, data: buf.subarray(length, length) } };
    default:
      return { ok: false, reason: EapDecodeFailure.UnknownCode };
  }
}

/**
 * Encodes one EAP packet in a single allocation.
 *
 * Request and Response need a `type`; Success and Failure take neither `type` nor `data`
 * (RFC 3748 §4.2). A call that breaks these rules, or whose packet would exceed the 16-bit
 * Length field, is a bug in the caller and fails an assertion.
 */
export function encodeEap(p: { code: EapCode; identifier: number; type?: number; data?: Buffer }): Buffer {
  const hasType = p.code === EapCode.Request || p.code === EapCode.Response;
  assert.equal(p.type !== undefined, hasType, 'EAP Type is required for Request/Response and forbidden otherwise');
  assert.ok(hasType || p.data === undefined, 'EAP Success/Failure carry no data');
  assert.ok(Number.isInteger(p.identifier) && p.identifier >= 0 && p.identifier <= 0xff, 'EAP Identifier is one octet');
  const data = p.data ?? NO_DATA;
  const length = HEADER_BYTES + (hasType ? 1 + data.length : 0);
  assert.ok(length <= 0xffff, 'EAP packet exceeds the 16-bit Length field');
  const out = Buffer.allocUnsafe(length);
  out[0] = p.code;
  out[1] = p.identifier;
  out.writeUInt16BE(length, 2);
  if (p.type !== undefined) {
    out.writeUInt8(p.type, HEADER_BYTES);
    data.copy(out, HEADER_BYTES + 1);
  }
  return out;
}

/** Encodes EAP-Success (RFC 3748 §4.2). */
export function encodeSuccess(identifier: number): Buffer {
  return encodeEap({ code: EapCode.Success, identifier });
}

/** Encodes EAP-Failure (RFC 3748 §4.2). */
export function encodeFailure(identifier: number): Buffer {
  return encodeEap({ code: EapCode.Failure, identifier });
}

/**
 * Reads a legacy Nak's Type-Data: the authentication Types the peer would accept instead, one
 * octet each, in its order of preference; a single 0 means none is acceptable (RFC 3748 §5.3.1).
 * The octets are returned as sent; an empty list means the peer sent no Type-Data.
 */
export function decodeNak(data: Buffer): number[] {
  return Array.from(data);
}
