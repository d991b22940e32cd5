/**
 * The RADIUS codec: pure functions from bytes to packets and back, no I/O, never throwing on
 * network input. See each module for the RFC rules it implements.
 */
export { PacketCode, Attr, AcctStatusTypeValue, Vendor, MicrosoftAttr, TunnelTypeValue, TunnelMediumTypeValue } from './dictionary.ts';
export {
  HEADER_LENGTH,
  MAX_PACKET_LENGTH,
  AUTHENTICATOR_LENGTH,
  MAX_ATTRIBUTE_VALUE_LENGTH,
  DecodeFailure,
  decodePacket,
} from './packet.ts';
export type { RadiusAttribute, RadiusPacket, DecodeResult } from './packet.ts';
export {
  getAttribute,
  getAttributes,
  getStringAttribute,
  getIntegerAttribute,
  stringAttr,
  integerAttr,
  encodeAttributes,
} from './attributes.ts';
export { joinEapMessage, splitEapMessage } from './eap-message.ts';
export { encodeVendorSpecific, getVendorAttributes } from './vendor-specific.ts';
export { encodeTunnelInteger, decodeTunnelInteger, encodeTunnelString, decodeTunnelString } from './tunnel.ts';
export type { Tagged } from './tunnel.ts';
export {
  verifyMessageAuthenticator,
  verifyAccountingRequestAuthenticator,
  verifyResponseAuthenticator,
  encodeResponse,
  encodeRequest,
} from './authenticator.ts';
export type { MessageAuthenticatorResult, EncodeResponseOptions, EncodeRequestOptions } from './authenticator.ts';
export { encryptUserPassword, decryptUserPassword, encryptMppeKey, decryptMppeKey, mppeKeyAttributes } from './crypt.ts';
export { StreamFailure, RadiusStreamReader } from './stream.ts';
export type { StreamResult } from './stream.ts';
