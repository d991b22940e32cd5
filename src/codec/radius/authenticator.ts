/**
 * Packet authentication: Request / Response Authenticators (RFC 2865 §3, RFC 2866 §3) and
 * Message-Authenticator (RFC 3579 §3.2), and the encoders that produce them.
 *
 * Every comparison is constant-time. Encoders always put Message-Authenticator first, which
 * defeats the BlastRADIUS MD5 chosen-prefix forgery (draft-ietf-radext-deprecating-radius).
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { attributesLength, getAttribute, writeAttributes } from './attributes.ts';
import { Attr, PacketCode } from './dictionary.ts';
import { AUTHENTICATOR_LENGTH, HEADER_LENGTH, MAX_PACKET_LENGTH, type RadiusAttribute, type RadiusPacket } from './packet.ts';

const ZERO_AUTHENTICATOR = Buffer.alloc(AUTHENTICATOR_LENGTH);
/** Where the value of the Message-Authenticator our encoders put first begins. */
const FIRST_VALUE_OFFSET = HEADER_LENGTH + 2;

/** Codes that answer a request: their MACs are keyed on the request's authenticator (RFC 2865 §3, RFC 3579 §3.2). */
const RESPONSE_CODES: ReadonlySet<number> = new Set<number>([
  PacketCode.AccessAccept,
  PacketCode.AccessReject,
  PacketCode.AccessChallenge,
  PacketCode.AccountingResponse,
  PacketCode.DisconnectAck,
  PacketCode.DisconnectNak,
  PacketCode.CoaAck,
  PacketCode.CoaNak,
]);

/**
 * Requests whose Request Authenticator is an MD5 over the packet (RFC 2866 §3, RFC 5176 §2.3);
 * their Message-Authenticator is computed with 16 zero octets in the Authenticator field, as
 * FreeRADIUS and hostapd do. Other requests (Access-Request, Status-Server) carry a random one.
 */
const HASHED_REQUEST_CODES: ReadonlySet<number> = new Set<number>([
  PacketCode.AccountingRequest,
  PacketCode.DisconnectRequest,
  PacketCode.CoaRequest,
]);

/** Outcome of {@link verifyMessageAuthenticator}. */
export type MessageAuthenticatorResult = 'ok' | 'missing' | 'invalid';

/**
 * Checks Message-Authenticator = HMAC-MD5(secret, packet with the MA value zeroed) (RFC 3579 §3.2).
 * The Authenticator field is taken as: the packet's own for Access-Request and Status-Server;
 * 16 zero octets for Accounting-, Disconnect- and CoA-Request (whose Request Authenticator must
 * also pass {@link verifyAccountingRequestAuthenticator}); for responses, as
 * {@link EncodeResponseOptions.requestCode} tells: responses are 'invalid' without
 * `requestAuthenticator`. `packet` must come from `decodePacket`.
 */
export function verifyMessageAuthenticator(
  packet: RadiusPacket,
  secret: Buffer,
  requestAuthenticator?: Buffer,
  requestCode?: PacketCode,
): MessageAuthenticatorResult {
  const received = getAttribute(packet, Attr.MessageAuthenticator);
  if (received === undefined) return 'missing';
  const field = messageAuthenticatorField(packet, requestAuthenticator, requestCode);
  if (field?.length !== AUTHENTICATOR_LENGTH || received.length !== AUTHENTICATOR_LENGTH) return 'invalid';
  const { raw } = packet;
  const offset = received.byteOffset - raw.byteOffset;
  assert(
    received.buffer === raw.buffer && offset >= FIRST_VALUE_OFFSET && offset <= raw.length - AUTHENTICATOR_LENGTH,
    'attribute values must be views into packet.raw (use decodePacket)',
  );
  const expected = createHmac('md5', secret)
    .update(raw.subarray(0, 4))
    .update(field)
    .update(raw.subarray(HEADER_LENGTH, offset))
    .update(ZERO_AUTHENTICATOR)
    .update(raw.subarray(offset + AUTHENTICATOR_LENGTH))
    .digest();
  return timingSafeEqual(expected, received) ? 'ok' : 'invalid';
}

/** What stands in the Authenticator field while a packet's Message-Authenticator is computed. */
function messageAuthenticatorField(
  packet: RadiusPacket,
  requestAuthenticator: Buffer | undefined,
  requestCode: PacketCode | undefined,
): Buffer | undefined {
  if (RESPONSE_CODES.has(packet.code)) {
    return requestAuthenticator === undefined ? undefined : responseField(packet.code, requestAuthenticator, requestCode);
  }
  // The Request Authenticator of these is computed over the MA, so the MA cannot cover it.
  if (HASHED_REQUEST_CODES.has(packet.code)) return ZERO_AUTHENTICATOR;
  // RFC 3579 §3.2: Access-Request (and Status-Server) use their own random authenticator.
  return packet.authenticator;
}

/**
 * What stands in the Authenticator field while a response's Message-Authenticator is computed.
 * RFC 3579 §3.2: the Request Authenticator of the request it answers, and so for the answer to a
 * Status-Server (RFC 5997 §3). An Accounting-Response to an Accounting-Request is keyed on 16
 * zero octets instead, like the request's own MAC: RFC 2866 defines no Message-Authenticator,
 * and FreeRADIUS (`rad_sign()`, radclient) signs and checks it this way and discards any other.
 */
function responseField(code: PacketCode, requestAuthenticator: Buffer, requestCode: PacketCode | undefined): Buffer {
  const answersAccounting = code === PacketCode.AccountingResponse && requestCode !== PacketCode.StatusServer;
  return answersAccounting ? ZERO_AUTHENTICATOR : requestAuthenticator;
}

/**
 * Checks the Request Authenticator of an Accounting-Request (RFC 2866 §3), or of a Disconnect- or
 * CoA-Request (RFC 5176 §2.3): MD5(Code + Identifier + Length + 16 zero octets + Attributes + secret).
 */
export function verifyAccountingRequestAuthenticator(packet: RadiusPacket, secret: Buffer): boolean {
  return timingSafeEqual(authenticatorDigest(packet.raw, ZERO_AUTHENTICATOR, secret), packet.authenticator);
}

/**
 * Checks a Response Authenticator (RFC 2865 §3):
 * MD5(Code + Identifier + Length + Request Authenticator + Attributes + secret).
 */
export function verifyResponseAuthenticator(response: RadiusPacket, requestAuthenticator: Buffer, secret: Buffer): boolean {
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) return false;
  return timingSafeEqual(authenticatorDigest(response.raw, requestAuthenticator, secret), response.authenticator);
}

/** What {@link encodeResponse} needs. */
export interface EncodeResponseOptions {
  /** A response code (Access-Accept, -Reject, -Challenge, Accounting-Response, CoA/Disconnect ACK/NAK). */
  readonly code: PacketCode;
  /** The request's Identifier. */
  readonly identifier: number;
  /** The request's Authenticator. */
  readonly requestAuthenticator: Buffer;
  /**
   * The code of the request answered. Only an Accounting-Response needs it: one that answers a
   * Status-Server keys its Message-Authenticator on the request's Authenticator (RFC 5997 §3);
   * otherwise (the default) it answers an Accounting-Request and is keyed on 16 zero octets.
   */
  readonly requestCode?: PacketCode;
  /** Attributes in order; must not contain Message-Authenticator (the encoder adds it). */
  readonly attributes: readonly RadiusAttribute[];
  /** The shared secret of the client the request came from. */
  readonly secret: Buffer;
}

/**
 * Encodes a response with Message-Authenticator as its first attribute, computed over the packet
 * with the Request Authenticator in the Authenticator field (RFC 3579 §3.2; 16 zero octets for an
 * Accounting-Response to an Accounting-Request, see {@link EncodeResponseOptions.requestCode}),
 * then the Response Authenticator = MD5(Code + Identifier + Length + Request Authenticator +
 * Attributes + secret) (RFC 2865 §3, RFC 2866 §3). Asserts our own invariants (response code,
 * no MA given, at most 4096 octets).
 */
export function encodeResponse(opts: EncodeResponseOptions): Buffer {
  assert(RESPONSE_CODES.has(opts.code), `not a response code: ${opts.code}`);
  assert(opts.requestAuthenticator.length === AUTHENTICATOR_LENGTH, 'request authenticator must be 16 octets');
  const field = responseField(opts.code, opts.requestAuthenticator, opts.requestCode);
  const packet = encodeSigned(opts.code, opts.identifier, field, opts.attributes, opts.secret);
  authenticatorDigest(packet, opts.requestAuthenticator, opts.secret).copy(packet, 4);
  return packet;
}

/** What {@link encodeRequest} needs. */
export interface EncodeRequestOptions {
  /** A request code (Access-Request, Status-Server, Accounting-Request, CoA-Request, Disconnect-Request). */
  readonly code: PacketCode;
  /** Identifier, 0-255. */
  readonly identifier: number;
  /** Attributes in order; must not contain Message-Authenticator (the encoder adds it). */
  readonly attributes: readonly RadiusAttribute[];
  /** The shared secret of the server the request goes to. */
  readonly secret: Buffer;
  /**
   * The Request Authenticator of an Access-Request or Status-Server, for callers that hide a
   * User-Password with it first; random (crypto.randomBytes) by default. Not allowed for
   * requests whose authenticator is computed.
   */
  readonly authenticator?: Buffer;
}

/**
 * Encodes a request (test clients, Status-Server) with Message-Authenticator first (RFC 3579 §3.2).
 * Access-Request and Status-Server get a random Request Authenticator (RFC 2865 §3); Accounting-,
 * Disconnect- and CoA-Request get MD5(Code + Identifier + Length + 16 zero octets + Attributes +
 * secret), computed after the Message-Authenticator (RFC 2866 §3, RFC 5176 §2.3).
 */
export function encodeRequest(opts: EncodeRequestOptions): Buffer {
  assert(!RESPONSE_CODES.has(opts.code), `not a request code: ${opts.code}`);
  if (!HASHED_REQUEST_CODES.has(opts.code)) {
    const authenticator = opts.authenticator ?? randomBytes(AUTHENTICATOR_LENGTH);
    assert(authenticator.length === AUTHENTICATOR_LENGTH, 'request authenticator must be 16 octets');
    return encodeSigned(opts.code, opts.identifier, authenticator, opts.attributes, opts.secret);
  }
  assert(opts.authenticator === undefined, `the Request Authenticator of code ${opts.code} is computed, not given`);
  const packet = encodeSigned(opts.code, opts.identifier, ZERO_AUTHENTICATOR, opts.attributes, opts.secret);
  authenticatorDigest(packet, ZERO_AUTHENTICATOR, opts.secret).copy(packet, 4);
  return packet;
}

/**
 * Header + zeroed Message-Authenticator first + attributes, in one allocation, with `field` in the
 * Authenticator field; then the Message-Authenticator value is computed in place (RFC 3579 §3.2).
 */
function encodeSigned(
  code: PacketCode,
  identifier: number,
  field: Buffer,
  attributes: readonly RadiusAttribute[],
  secret: Buffer,
): Buffer {
  assert(Number.isInteger(identifier) && identifier >= 0 && identifier <= 255, `identifier out of range: ${identifier}`);
  assert(attributes.every(({ type }) => type !== Attr.MessageAuthenticator), 'Message-Authenticator is added by the encoder');
  const all = [{ type: Attr.MessageAuthenticator, value: ZERO_AUTHENTICATOR }, ...attributes];
  const length = HEADER_LENGTH + attributesLength(all);
  assert(length <= MAX_PACKET_LENGTH, `packet too long: ${length} octets`); // RFC 2865 §3
  const packet = Buffer.allocUnsafe(length);
  packet.writeUInt8(code, 0);
  packet.writeUInt8(identifier, 1);
  packet.writeUInt16BE(length, 2);
  field.copy(packet, 4);
  writeAttributes(packet, HEADER_LENGTH, all);
  createHmac('md5', secret).update(packet).digest().copy(packet, FIRST_VALUE_OFFSET);
  return packet;
}

/** MD5 over `raw` with `field` in place of the Authenticator field, followed by the secret (RFC 2865 §3). */
function authenticatorDigest(raw: Buffer, field: Buffer, secret: Buffer): Buffer {
  return createHash('md5')
    .update(raw.subarray(0, 4))
    .update(field)
    .update(raw.subarray(HEADER_LENGTH))
    .update(secret)
    .digest();
}
