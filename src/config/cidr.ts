/**
 * IPv4 and IPv6 networks in CIDR notation, for the NAS client table.
 *
 * Parsing is strict: `net.isIP` decides what an address is (no leading zeros in IPv4, no zone ids
 * in a network), the prefix is decimal without sign, and a network whose host bits are set is
 * refused with a message that names the network the author probably meant.
 */
import { isIP } from 'node:net';

/** An IP network: the client-table entry a NAS source address is matched against. */
export interface Cidr {
  /** 4 for IPv4, 6 for IPv6. */
  readonly family: 4 | 6;
  /** The network address: 4 or 16 bytes, host bits zero. A fresh copy on each read. */
  readonly network: Buffer;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  readonly prefix: number;
  /**
   * Whether `address` (an IP literal) lies in this network. An IPv4 network also contains the
   * IPv4-mapped IPv6 form of its addresses (`::ffff:a.b.c.d`), which is what a dual-stack socket
   * reports for IPv4 peers. Anything that is not an IP literal is contained in nothing.
   */
  contains(address: string): boolean;
  /** Canonical text, always with the prefix: `10.0.0.0/24`, `2001:db8::/32`. */
  readonly text: string;
}

/** The outcome of {@link parseCidrDetailed}: a network, or why the text is not one. */
export type CidrParseResult =
  | { readonly ok: true; readonly cidr: Cidr }
  | { readonly ok: false; readonly reason: string };

const MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/**
 * Parses an IPv4 or IPv6 literal to its 4 or 16 network-order bytes.
 * A zone id (`fe80::1%eth0`) is ignored. Returns undefined for anything that is not an IP literal.
 */
export function parseIpAddress(text: string): Buffer | undefined {
  const percent = text.indexOf('%');
  const bare = percent === -1 ? text : text.slice(0, percent);
  const family = isIP(bare);
  if (family === 4) return parseIpv4(bare);
  if (family === 6) return parseIpv6(bare);
  return undefined;
}

/** Parses a literal that `isIP` already accepted as IPv4. */
function parseIpv4(text: string): Buffer {
  return Buffer.from(text.split('.').map((part) => Number(part)));
}

/** Parses a literal that `isIP` already accepted as IPv6, expanding `::` and a dotted IPv4 tail. */
function parseIpv6(text: string): Buffer {
  const out = Buffer.alloc(16);
  const [head = '', tail] = text.split('::', 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const words = (groups: string[]): number[] =>
    groups.flatMap((group) => {
      if (!group.includes('.')) return [Number.parseInt(group, 16)];
      const v4 = parseIpv4(group);
      return [v4.readUInt16BE(0), v4.readUInt16BE(2)];
    });
  const headWords = words(headGroups);
  const tailWords = words(tailGroups);
  headWords.forEach((word, i) => out.writeUInt16BE(word, i * 2));
  tailWords.forEach((word, i) => out.writeUInt16BE(word, 16 - (tailWords.length - i) * 2));
  return out;
}

/** RFC 5952 text of 16 bytes: lower case, the longest run (>= 2) of zero words compressed. */
function formatIpv6(bytes: Buffer): string {
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((word) => word.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/** Text of 4 or 16 address bytes (IPv4 dotted quad, IPv6 per RFC 5952). */
function formatAddress(bytes: Buffer): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  // RFC 5952 §5: IPv4-mapped addresses keep their dotted tail.
  if (bytes.subarray(0, 12).equals(MAPPED_PREFIX)) return `::ffff:${formatAddress(bytes.subarray(12))}`;
  return formatIpv6(bytes);
}

/** Copies `bytes` with every bit after the first `prefix` bits cleared. */
function maskBytes(bytes: Buffer, prefix: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i += 1) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** Whether the first `prefix` bits of `a` and `b` (same length) are equal. */
function samePrefix(a: Buffer, b: Buffer, prefix: number): boolean {
  const whole = prefix >> 3;
  if (a.compare(b, 0, whole, 0, whole) !== 0) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

/** The concrete {@link Cidr}: holds its own copy of the network bytes. */
class CidrNetwork implements Cidr {
  readonly family: 4 | 6;
  readonly prefix: number;
  readonly text: string;
  readonly #bytes: Buffer;

  constructor(bytes: Buffer, prefix: number) {
    this.#bytes = Buffer.from(bytes);
    this.family = bytes.length === 4 ? 4 : 6;
    this.prefix = prefix;
    this.text = `${formatAddress(bytes)}/${prefix}`;
    Object.freeze(this);
  }

  get network(): Buffer {
    return Buffer.from(this.#bytes);
  }

  contains(address: string): boolean {
    let bytes = parseIpAddress(address);
    if (bytes === undefined) return false;
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2).
    if (this.family === 4 && bytes.length === 16 && bytes.subarray(0, 12).equals(MAPPED_PREFIX)) {
      bytes = bytes.subarray(12);
    }
    if (bytes.length !== this.#bytes.length) return false;
    return samePrefix(bytes, this.#bytes, this.prefix);
  }

  toJSON(): string {
    return this.text;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * Parses `address` or `address/prefix` (IPv4 or IPv6), saying why when the text is not a network.
 * A bare address is a host network (/32 or /128). Host bits set after the prefix are refused.
 */
export function parseCidrDetailed(text: string): CidrParseResult {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (addressText.includes('%')) return { ok: false, reason: `"${text}": a network cannot carry a zone id` };
  const bytes = parseIpAddress(addressText);
  if (bytes === undefined) return { ok: false, reason: `"${addressText}" is not an IPv4 or IPv6 address` };
  const max = bytes.length * 8;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    return { ok: false, reason: `"${text}": the prefix length must be a number 0..${max}` };
  }
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return { ok: false, reason: `"${text}": the prefix length must be 0..${max}` };
  const network = maskBytes(bytes, prefix);
  if (!network.equals(bytes)) {
    const meant = `${formatAddress(network)}/${prefix}`;
    return { ok: false, reason: `"${text}" has host bits set after the /${prefix} prefix (the network is ${meant})` };
  }
  return { ok: true, cidr: new CidrNetwork(network, prefix) };
}

/**
 * Parses `address` or `address/prefix` (IPv4 or IPv6; a bare address is /32 or /128).
 * Returns undefined when the text is not a network, including when host bits are set
 * (`10.0.0.1/24`); {@link parseCidrDetailed} says why.
 */
export function parseCidr(text: string): Cidr | undefined {
  const result = parseCidrDetailed(text);
  return result.ok ? result.cidr : undefined;
}
