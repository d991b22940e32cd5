/**
 * RADIUS packet decoding: header and attribute framing, validated before anything is allocated.
 *
 * The decoder is total: any bytes give either a packet or a reason from a closed union.
 */
import { Attr, PacketCode } from './dictionary.ts';

/** Size of the RADIUS header: Code, Identifier, Length, Authenticator (RFC 2865 §3). */
export const HEADER_LENGTH = 20;
/** Largest RADIUS packet (RFC 2865 §3). */
export const MAX_PACKET_LENGTH = 4096;
/** Size of the Request / Response Authenticator and of a Message-Authenticator value (RFC 2865 §3, RFC 3579 §3.2). */
export const AUTHENTICATOR_LENGTH = 16;
/** Largest attribute value: the one-octet Length counts Type and Length too (RFC 2865 §5). */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 253;

/** One attribute as it was on the wire. */
export interface RadiusAttribute {
  /** Attribute type (RFC 2865 §5). */
  readonly type: number;
  /** The raw value; for decoded packets a view into {@link RadiusPacket.raw}, never a copy. */
  readonly value: Buffer;
}

/** A structurally valid RADIUS packet. Nothing in it is authenticated yet. */
export interface RadiusPacket {
  /** Packet code, one of the codes this codec knows (RFC 2865 §3). */
  readonly code: PacketCode;
  /** Identifier, 0-255, matching requests and responses (RFC 2865 §3). */
  readonly identifier: number;
  /** The 16-octet Authenticator field, a view into {@link raw}. */
  readonly authenticator: Buffer;
  /** Attributes in wire order. */
  readonly attributes: readonly RadiusAttribute[];
  /** Exactly Length octets of the datagram (padding beyond Length dropped). */
  readonly raw: Buffer;
}

/** Why a datagram is not a RADIUS packet; the values are stable metric labels. */
export const DecodeFailure = {
  /** Datagram shorter than the 20-octet header (RFC 2865 §3). */
  TooShort: 'too-short',
  /** Datagram longer than 4096 octets (RFC 2865 §3). */
  TooLong: 'too-long',
  /** Length field below 20 or above 4096 (RFC 2865 §3). */
  BadLengthField: 'bad-length-field',
  /** Length field larger than the datagram (RFC 2865 §3: silently discarded). */
  Truncated: 'truncated',
  /** Code not in {@link PacketCode} (RFC 2865 §3: silently discarded). */
  UnknownCode: 'unknown-code',
  /** One octet left where an attribute header of two is needed (RFC 2865 §5). */
  AttributeHeaderOverflow: 'attribute-header-overflow',
  /** Attribute Length below 2 (RFC 2865 §5). */
  AttributeTooShort: 'attribute-too-short',
  /** Attribute runs past the packet's Length (RFC 2865 §5). */
  AttributeOverflow: 'attribute-overflow',
  /** Message-Authenticator value not 16 octets (RFC 3579 §3.2). */
  BadMessageAuthenticatorLength: 'bad-message-authenticator-length',
  /** More than one Message-Authenticator (RFC 3579 §3.3: 0-1 per packet). */
  DuplicateMessageAuthenticator: 'duplicate-message-authenticator',
} as const;

/** One of {@link DecodeFailure}'s values. */
export type DecodeFailure = (typeof DecodeFailure)[keyof typeof DecodeFailure];

/** Result of {@link decodePacket}. */
export type DecodeResult = { ok: true; packet: RadiusPacket } | { ok: false; reason: DecodeFailure };

const KNOWN_CODES: ReadonlySet<number> = new Set(Object.values(PacketCode));

function isPacketCode(code: number): code is PacketCode {
  return KNOWN_CODES.has(code);
}

/**
 * Decodes one RADIUS datagram. Never throws; attribute values are views into the datagram.
 * Message-Authenticator is checked for shape only; see `verifyMessageAuthenticator`.
 */
export function decodePacket(datagram: Buffer): DecodeResult {
  // RFC 2865 §3: minimum 20, maximum 4096 octets.
  if (datagram.length < HEADER_LENGTH) return fail(DecodeFailure.TooShort);
  if (datagram.length > MAX_PACKET_LENGTH) return fail(DecodeFailure.TooLong);
  const length = datagram.readUInt16BE(2);
  if (length < HEADER_LENGTH || length > MAX_PACKET_LENGTH) return fail(DecodeFailure.BadLengthField);
  // RFC 2865 §3: shorter than Length -> discard; octets beyond Length are padding, ignored.
  if (length > datagram.length) return fail(DecodeFailure.Truncated);
  const code = datagram.readUInt8(0);
  if (!isPacketCode(code)) return fail(DecodeFailure.UnknownCode);

  const raw = datagram.subarray(0, length);
  const attributes = parseAttributes(raw, HEADER_LENGTH);
  if (typeof attributes === 'string') return fail(attributes);
  const messageAuthenticatorFailure = checkMessageAuthenticator(attributes);
  if (messageAuthenticatorFailure !== undefined) return fail(messageAuthenticatorFailure);

  return {
    ok: true,
    packet: {
      code,
      identifier: raw.readUInt8(1),
      authenticator: raw.subarray(4, HEADER_LENGTH),
      attributes,
      raw,
    },
  };
}

/** A failure of type-length-value framing, the part of {@link DecodeFailure} that {@link parseAttributes} reports. */
export type FramingFailure =
  | typeof DecodeFailure.AttributeHeaderOverflow
  | typeof DecodeFailure.AttributeTooShort
  | typeof DecodeFailure.AttributeOverflow;

/**
 * Splits `buffer` from `start` to its end into type-length-value items, as views: the attributes
 * of a packet (RFC 2865 §5) or the sub-attributes of a Vendor-Specific value (RFC 2865 §5.26).
 * Type (1), Length (1, counting Type and Length), Value; the items must fill the buffer exactly.
 */
export function parseAttributes(buffer: Buffer, start: number): RadiusAttribute[] | FramingFailure {
  const items: RadiusAttribute[] = [];
  for (let offset = start; offset < buffer.length; ) {
    if (offset + 2 > buffer.length) return DecodeFailure.AttributeHeaderOverflow;
    const itemLength = buffer.readUInt8(offset + 1);
    if (itemLength < 2) return DecodeFailure.AttributeTooShort;
    if (offset + itemLength > buffer.length) return DecodeFailure.AttributeOverflow;
    items.push({ type: buffer.readUInt8(offset), value: buffer.subarray(offset + 2, offset + itemLength) });
    offset += itemLength;
  }
  return items;
}

/** RFC 3579 §3.2: Message-Authenticator Length is 18; §3.3: at most one per packet. */
function checkMessageAuthenticator(attributes: readonly RadiusAttribute[]): DecodeFailure | undefined {
  let seen = false;
  for (const { type, value } of attributes) {
    if (type !== Attr.MessageAuthenticator) continue;
    if (value.length !== AUTHENTICATOR_LENGTH) return DecodeFailure.BadMessageAuthenticatorLength;
    if (seen) return DecodeFailure.DuplicateMessageAuthenticator;
    seen = true;
  }
  return undefined;
}

function fail(reason: DecodeFailure): DecodeResult {
  return { ok: false, reason };
}
