/**
 * Reading attributes from a decoded packet and writing attribute lists (RFC 2865 §5).
 */
import assert from 'node:assert/strict';
import { MAX_ATTRIBUTE_VALUE_LENGTH, type RadiusAttribute, type RadiusPacket } from './packet.ts';

/** The value of the first attribute of `type`, or undefined. */
export function getAttribute(packet: RadiusPacket, type: number): Buffer | undefined {
  return packet.attributes.find((attribute) => attribute.type === type)?.value;
}

/** The values of every attribute of `type`, in wire order. */
export function getAttributes(packet: RadiusPacket, type: number): Buffer[] {
  const values: Buffer[] = [];
  for (const attribute of packet.attributes) {
    if (attribute.type === type) values.push(attribute.value);
  }
  return values;
}

/** The first attribute of `type` read as UTF-8 text (RFC 2865 §5: "text" is UTF-8), or undefined. */
export function getStringAttribute(packet: RadiusPacket, type: number): string | undefined {
  return getAttribute(packet, type)?.toString('utf8');
}

/** The first attribute of `type` read as a 32-bit unsigned integer (RFC 2865 §5); undefined if absent or not 4 octets. */
export function getIntegerAttribute(packet: RadiusPacket, type: number): number | undefined {
  const value = getAttribute(packet, type);
  return value?.length === 4 ? value.readUInt32BE(0) : undefined;
}

/** A text attribute, UTF-8 encoded (RFC 2865 §5). */
export function stringAttr(type: number, s: string): RadiusAttribute {
  return { type, value: Buffer.from(s, 'utf8') };
}

/** A 32-bit unsigned integer attribute, network byte order (RFC 2865 §5). */
export function integerAttr(type: number, n: number): RadiusAttribute {
  assert(Number.isInteger(n) && n >= 0 && n <= 0xffffffff, `integer attribute ${type} out of range: ${n}`);
  const value = Buffer.allocUnsafe(4);
  value.writeUInt32BE(n, 0);
  return { type, value };
}

/** Octets that {@link writeAttributes} will write for `attributes`. */
export function attributesLength(attributes: readonly RadiusAttribute[]): number {
  let total = 0;
  for (const { type, value } of attributes) {
    // Our own invariant: callers never build an attribute that cannot be framed (RFC 2865 §5).
    assert(Number.isInteger(type) && type >= 1 && type <= 255, `attribute type out of range: ${type}`);
    assert(value.length <= MAX_ATTRIBUTE_VALUE_LENGTH, `attribute ${type} value too long: ${value.length}`);
    total += 2 + value.length;
  }
  return total;
}

/** Writes `attributes` into `target` at `offset` (space already checked by the caller); returns the end offset. */
export function writeAttributes(target: Buffer, offset: number, attributes: readonly RadiusAttribute[]): number {
  let at = offset;
  for (const { type, value } of attributes) {
    target[at] = type;
    target[at + 1] = 2 + value.length;
    value.copy(target, at + 2);
    at += 2 + value.length;
  }
  return at;
}

/** Encodes an attribute list in order, in one allocation. Asserts each value fits in 253 octets. */
export function encodeAttributes(attributes: readonly RadiusAttribute[]): Buffer {
  const out = Buffer.allocUnsafe(attributesLength(attributes));
  writeAttributes(out, 0, attributes);
  return out;
}
