/**
 * RADIUS attributes of the replies to an EAP conversation. The EAP layer hands over EAP packets,
 * keys and the decision; this module alone turns them into attributes (ARCHITECTURE habit 6).
 */
import {
  Attr,
  TunnelMediumTypeValue,
  TunnelTypeValue,
  encodeTunnelInteger,
  encodeTunnelString,
  integerAttr,
  mppeKeyAttributes,
  splitEapMessage,
  stringAttr,
  type RadiusAttribute,
} from '../codec/radius/index.ts';
import type { ReplyConfig } from '../config/index.ts';
import type { EapKeyMaterial } from '../tls/key-material.ts';

/** Attributes of an Access-Challenge (RFC 3579 §2.6.1): the EAP-Request and the State. */
export function challengeAttributes(eap: Buffer, state: Buffer): RadiusAttribute[] {
  return [...splitEapMessage(eap), { type: Attr.State, value: state }];
}

/** What an Access-Accept carries besides EAP-Success. */
export interface AcceptContent {
  readonly eap: Buffer;
  readonly keys: EapKeyMaterial;
  readonly vlan: string | undefined;
  readonly reply: ReplyConfig;
  /** RFC 4072 §6.2 / RFC 5247: return the EAP Session-Id when the NAS sent EAP-Key-Name. */
  readonly includeKeyName: boolean;
  readonly secret: Buffer;
  readonly requestAuthenticator: Buffer;
}

/**
 * Attributes of an Access-Accept: EAP-Success, MS-MPPE-Recv/Send-Key (RFC 2548 §2.4, RFC 5216
 * §2.3), the VLAN (RFC 3580 §3.31: Tunnel-Type VLAN, Tunnel-Medium-Type 802, Tunnel-Private-
 * Group-Id), the rule's reply attributes and EAP-Key-Name when asked for.
 */
export function acceptAttributes(content: AcceptContent): RadiusAttribute[] {
  const attributes = [
    ...splitEapMessage(content.eap),
    ...mppeKeyAttributes(content.keys.msk, content.secret, content.requestAuthenticator),
  ];
  if (content.vlan !== undefined) {
    attributes.push(
      encodeTunnelInteger(Attr.TunnelType, 0, TunnelTypeValue.Vlan),
      encodeTunnelInteger(Attr.TunnelMediumType, 0, TunnelMediumTypeValue.Ieee802),
      encodeTunnelString(Attr.TunnelPrivateGroupId, 0, content.vlan),
    );
  }
  const { sessionTimeout, replyMessage, filterId } = content.reply;
  if (sessionTimeout !== undefined) attributes.push(integerAttr(Attr.SessionTimeout, sessionTimeout));
  if (replyMessage !== undefined) attributes.push(stringAttr(Attr.ReplyMessage, replyMessage));
  if (filterId !== undefined) attributes.push(stringAttr(Attr.FilterId, filterId));
  if (content.includeKeyName) attributes.push({ type: Attr.EapKeyName, value: content.keys.sessionId });
  return attributes;
}

/**
 * Attributes of an Access-Reject: EAP-Failure when there is one (RFC 3579 §2.6.3) and the
 * reason as Reply-Message, for the operator reading the NAS log.
 */
export function rejectAttributes(eap: Buffer | undefined, reason: string): RadiusAttribute[] {
  const attributes = eap === undefined ? [] : splitEapMessage(eap);
  // Reasons are short machine codes; the cut keeps an overlong configured one within 253 octets.
  attributes.push(stringAttr(Attr.ReplyMessage, `rejected: ${reason}`.slice(0, 200)));
  return attributes;
}
