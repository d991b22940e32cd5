/**
 * Tagged tunnel attributes (RFC 2868 §3), used for VLAN assignment (RFC 3580 §3.31).
 *
 * The Tag groups attributes that describe the same tunnel, so a packet may carry several
 * Tunnel-Type / Tunnel-Private-Group-Id attributes; each value is decoded on its own.
 */
import assert from 'node:assert/strict';
import type { RadiusAttribute } from './packet.ts';

/** Largest tag; 0 means "no tag" (RFC 2868 §3.1). */
const MAX_TAG = 0x1f;
const MAX_INTEGER = 0xffffff;

/** A tunnel attribute value with its tag (0 when untagged). */
export interface Tagged<T> {
  /** 0x01-0x1F groups attributes of one tunnel; 0 means untagged. */
  readonly tag: number;
  /** The value without its tag octet. */
  readonly value: T;
}

/** A tagged integer attribute such as Tunnel-Type or Tunnel-Medium-Type: Tag (1) + Value (3) (RFC 2868 §3.1, §3.2). */
export function encodeTunnelInteger(type: number, tag: number, value: number): RadiusAttribute {
  assertTag(tag);
  assert(Number.isInteger(value) && value >= 0 && value <= MAX_INTEGER, `tunnel integer out of range: ${value}`);
  const out = Buffer.allocUnsafe(4);
  out[0] = tag;
  out.writeUIntBE(value, 1, 3);
  return { type, value: out };
}

/** Reads a tagged integer value; undefined unless it is 4 octets with a tag of 0x00-0x1F (RFC 2868 §3.1). */
export function decodeTunnelInteger(value: Buffer): Tagged<number> | undefined {
  if (value.length !== 4) return undefined;
  const tag = value.readUInt8(0);
  if (tag > MAX_TAG) return undefined;
  return { tag, value: value.readUIntBE(1, 3) };
}

/**
 * A tagged string attribute such as Tunnel-Private-Group-Id (RFC 2868 §3.6). A tag 0x01-0x1F is
 * prefixed. With tag 0 a 0x00 octet is prefixed only when the string is empty or starts with an
 * octet <= 0x1F, which a reader would otherwise take for a tag.
 */
export function encodeTunnelString(type: number, tag: number, value: string | Buffer): RadiusAttribute {
  assertTag(tag);
  const text = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const first = text[0];
  if (tag === 0 && first !== undefined && first > MAX_TAG) return { type, value: text };
  const out = Buffer.allocUnsafe(1 + text.length);
  out[0] = tag;
  text.copy(out, 1);
  return { type, value: out };
}

/**
 * Reads a tagged string value (RFC 2868 §3.6): a first octet 0x00-0x1F is the tag, anything
 * greater is the first octet of an untagged string. The returned string is a view.
 */
export function decodeTunnelString(value: Buffer): Tagged<Buffer> {
  const first = value[0];
  if (first === undefined || first > MAX_TAG) return { tag: 0, value };
  return { tag: first, value: value.subarray(1) };
}

function assertTag(tag: number): void {
  assert(Number.isInteger(tag) && tag >= 0 && tag <= MAX_TAG, `tunnel tag out of range: ${tag}`);
}
