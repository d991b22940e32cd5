/**
 * EAP-Message attributes (RFC 3579 §3.1): an EAP packet split over consecutive attributes.
 */
import { getAttributes } from './attributes.ts';
import { Attr } from './dictionary.ts';
import { MAX_ATTRIBUTE_VALUE_LENGTH, type RadiusAttribute, type RadiusPacket } from './packet.ts';

/**
 * The EAP packet carried by `packet`: every EAP-Message value concatenated in wire order
 * (RFC 3579 §3.1), in one allocation; undefined when there is no EAP-Message.
 */
export function joinEapMessage(packet: RadiusPacket): Buffer | undefined {
  const pieces = getAttributes(packet, Attr.EapMessage);
  return pieces.length === 0 ? undefined : Buffer.concat(pieces);
}

/**
 * Splits an EAP packet into EAP-Message attributes of at most 253 octets (RFC 3579 §3.1),
 * as views into `eap`. An empty input gives one empty attribute, so join(split(x)) is x.
 */
export function splitEapMessage(eap: Buffer): RadiusAttribute[] {
  const attributes: RadiusAttribute[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + MAX_ATTRIBUTE_VALUE_LENGTH, eap.length);
    attributes.push({ type: Attr.EapMessage, value: eap.subarray(offset, end) });
    offset = end;
  } while (offset < eap.length);
  return attributes;
}
