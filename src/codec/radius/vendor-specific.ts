/**
 * Vendor-Specific attributes (RFC 2865 §5.26) in the recommended format:
 * Vendor-Id (4 octets, high octet 0), then sub-attributes of Vendor-Type (1), Vendor-Length (1), value.
 */
import assert from 'node:assert/strict';
import { Attr } from './dictionary.ts';
import { MAX_ATTRIBUTE_VALUE_LENGTH, parseAttributes, type RadiusAttribute, type RadiusPacket } from './packet.ts';

const VENDOR_ID_LENGTH = 4;
const SUB_HEADER_LENGTH = 2;

/** One Vendor-Specific attribute carrying a single sub-attribute. Asserts the result fits in one attribute. */
export function encodeVendorSpecific(vendorId: number, vendorType: number, value: Buffer): RadiusAttribute {
  // RFC 2865 §5.26: the high-order octet of Vendor-Id is 0.
  assert(Number.isInteger(vendorId) && vendorId >= 0 && vendorId <= 0xffffff, `vendor id out of range: ${vendorId}`);
  assert(Number.isInteger(vendorType) && vendorType >= 0 && vendorType <= 255, `vendor type out of range: ${vendorType}`);
  const length = VENDOR_ID_LENGTH + SUB_HEADER_LENGTH + value.length;
  assert(length <= MAX_ATTRIBUTE_VALUE_LENGTH, `vendor attribute ${vendorId}/${vendorType} too long: ${value.length}`);
  const out = Buffer.allocUnsafe(length);
  out.writeUInt32BE(vendorId, 0);
  out[VENDOR_ID_LENGTH] = vendorType;
  out[VENDOR_ID_LENGTH + 1] = SUB_HEADER_LENGTH + value.length;
  value.copy(out, VENDOR_ID_LENGTH + SUB_HEADER_LENGTH);
  return { type: Attr.VendorSpecific, value: out };
}

/**
 * The values of every `vendorId`/`vendorType` sub-attribute in `packet`, in wire order, as views.
 * A Vendor-Specific attribute whose sub-attributes do not exactly fill it is skipped whole.
 */
export function getVendorAttributes(packet: RadiusPacket, vendorId: number, vendorType: number): Buffer[] {
  const values: Buffer[] = [];
  for (const attribute of packet.attributes) {
    if (attribute.type !== Attr.VendorSpecific) continue;
    const subAttributes = parseVendorSpecific(attribute.value, vendorId);
    for (const sub of subAttributes ?? []) {
      if (sub.type === vendorType) values.push(sub.value);
    }
  }
  return values;
}

/** Sub-attributes of one Vendor-Specific value of `vendorId`; undefined for another vendor or a malformed value. */
function parseVendorSpecific(value: Buffer, vendorId: number): RadiusAttribute[] | undefined {
  if (value.length < VENDOR_ID_LENGTH || value.readUInt32BE(0) !== vendorId) return undefined;
  const subAttributes = parseAttributes(value, VENDOR_ID_LENGTH);
  return typeof subAttributes === 'string' ? undefined : subAttributes;
}
