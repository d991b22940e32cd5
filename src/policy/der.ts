/**
 * A minimal DER reader (ITU-T X.690) for the parts of an X.509 certificate the rules match on:
 * the subject and issuer Names and the SubjectAltName extension (RFC 5280 §4.1, §4.2.1.6).
 * Reading the DER avoids the text forms, whose escaping rules differ between printers: a value
 * is never split on a separator it contains. Total: malformed input yields nothing, never throws.
 */

/** One tag-length-value: the tag octet and the bounds of its contents. */
interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  OctetString: 0x04,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  TeletexString: 0x14,
  Ia5String: 0x16,
  UniversalString: 0x1c,
  BmpString: 0x1e,
  Sequence: 0x30,
  Set: 0x31,
  /** Context-specific tags used in TBSCertificate and GeneralName. */
  Context0Constructed: 0xa0,
  Context3Constructed: 0xa3,
  Rfc822Name: 0x81,
  DnsName: 0x82,
  Uri: 0x86,
  IpAddress: 0x87,
} as const;

/** Reads the TLV at `offset` that must end by `limit`; undefined when malformed. */
function readTlv(der: Uint8Array, offset: number, limit: number): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // X.690 §10.1: DER uses the definite form; 4 length octets cover any certificate.
    if (octets === 0 || octets > 4 || start + octets > limit) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  const end = start + length;
  return end <= limit ? { tag, start, end } : undefined;
}

/** The TLVs inside a constructed one, in order; undefined when any is malformed. */
function children(der: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const list: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const child = readTlv(der, offset, parent.end);
    if (child === undefined) return undefined;
    list.push(child);
    offset = child.end;
  }
  return list;
}

/** Dotted form of an OBJECT IDENTIFIER (X.690 §8.19). */
function oid(der: Uint8Array, tlv: Tlv): string {
  const arcs: number[] = [];
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) {
    value = value * 128 + (der[i]! & 0x7f);
    if ((der[i]! & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** A directory string's text (RFC 5280 §4.1.2.4); undefined for a tag that is not a string. */
function text(der: Uint8Array, tlv: Tlv): string | undefined {
  const bytes = Buffer.from(der.buffer, der.byteOffset + tlv.start, tlv.end - tlv.start);
  switch (tlv.tag) {
    case Tag.Utf8String:
      return bytes.toString('utf8');
    case Tag.PrintableString:
    case Tag.Ia5String:
    case Tag.TeletexString:
    case Tag.Rfc822Name:
    case Tag.DnsName:
    case Tag.Uri:
      return bytes.toString('latin1');
    case Tag.BmpString:
      // UCS-2 big-endian: two octets a character; an odd length is malformed.
      return bytes.length % 2 === 0 ? Buffer.from(bytes).swap16().toString('utf16le') : undefined;
    case Tag.UniversalString: {
      // UCS-4 big-endian: four octets a character; no spread, a long string must not overflow the stack.
      if (bytes.length % 4 !== 0) return undefined;
      let decoded = '';
      for (let i = 0; i < bytes.length; i += 4) {
        const codePoint = bytes.readUInt32BE(i);
        if (codePoint > 0x10ffff) return undefined;
        decoded += String.fromCodePoint(codePoint);
      }
      return decoded;
    }
    default:
      return undefined;
  }
}

/** Short names of the attribute types rules may name (RFC 4519, RFC 5280 §4.1.2.4). */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** One attribute of a distinguished name, in certificate order. */
export interface NameAttribute {
  /** Short name (`CN`, `OU`, ...) or the dotted OID of a type without one. */
  readonly type: string;
  readonly value: string;
  /** Index of the RDN it belongs to: attributes of one multi-valued RDN share it. */
  readonly rdn: number;
}

/** The parts of a certificate the rules use. */
export interface CertificateNames {
  readonly subject: readonly NameAttribute[];
  readonly issuer: readonly NameAttribute[];
  readonly sanEmail: readonly string[];
  readonly sanDns: readonly string[];
  readonly sanUri: readonly string[];
  readonly sanUpn: readonly string[];
  /** iPAddress SANs in text form (`192.0.2.1`, `2001:db8::1`). */
  readonly sanIp: readonly string[];
  /** NAIRealm otherName SANs (RFC 7585 §2.2), used to identify RadSec peers. */
  readonly sanNaiRealm: readonly string[];
}

const SUBJECT_ALT_NAME = '2.5.29.17';
const MS_UPN = '1.3.6.1.4.1.311.20.2.3';
const NAI_REALM = '1.3.6.1.5.5.7.8.8';
const EMPTY: CertificateNames = { subject: [], issuer: [], sanEmail: [], sanDns: [], sanUri: [], sanUpn: [], sanIp: [], sanNaiRealm: [] };

/** Reads names and SANs from a DER certificate; empty lists for what cannot be read. */
export function readCertificateNames(der: Uint8Array): CertificateNames {
  const certificate = readTlv(der, 0, der.length);
  const tbs = certificate === undefined ? undefined : children(der, certificate)?.[0];
  const fields = tbs === undefined ? undefined : children(der, tbs);
  if (fields === undefined) return EMPTY;
  // RFC 5280 §4.1: [0] version (optional), serial, signature, issuer, validity, subject, key, ...
  const first = fields[0]?.tag === Tag.Context0Constructed ? 1 : 0;
  const issuer = fields[first + 2];
  const subject = fields[first + 4];
  const extensions = fields.find((field) => field.tag === Tag.Context3Constructed);
  return {
    subject: subject === undefined ? [] : nameAttributes(der, subject),
    issuer: issuer === undefined ? [] : nameAttributes(der, issuer),
    ...subjectAltNames(der, extensions),
  };
}

function nameAttributes(der: Uint8Array, name: Tlv): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  (children(der, name) ?? []).forEach((rdn, index) => {
    for (const pair of children(der, rdn) ?? []) {
      const [type, value] = children(der, pair) ?? [];
      if (type?.tag !== Tag.Oid || value === undefined) continue;
      const dotted = oid(der, type);
      const decoded = text(der, value);
      if (decoded !== undefined) attributes.push({ type: ATTRIBUTE_NAMES[dotted] ?? dotted, value: decoded, rdn: index });
    }
  });
  return attributes;
}

function subjectAltNames(der: Uint8Array, extensions: Tlv | undefined): Omit<CertificateNames, 'subject' | 'issuer'> {
  const san = {
    sanEmail: [] as string[],
    sanDns: [] as string[],
    sanUri: [] as string[],
    sanUpn: [] as string[],
    sanIp: [] as string[],
    sanNaiRealm: [] as string[],
  };
  const list = extensions === undefined ? undefined : children(der, extensions)?.[0];
  for (const extension of (list === undefined ? undefined : children(der, list)) ?? []) {
    const parts = children(der, extension) ?? [];
    if (parts[0]?.tag !== Tag.Oid || oid(der, parts[0]) !== SUBJECT_ALT_NAME) continue;
    const wrapped = parts.at(-1);
    const names = wrapped?.tag === Tag.OctetString ? readTlv(der, wrapped.start, wrapped.end) : undefined;
    for (const general of (names === undefined ? undefined : children(der, names)) ?? []) {
      if (general.tag === Tag.Rfc822Name) pushText(san.sanEmail, der, general);
      else if (general.tag === Tag.DnsName) pushText(san.sanDns, der, general);
      else if (general.tag === Tag.Uri) pushText(san.sanUri, der, general);
      else if (general.tag === Tag.IpAddress) pushIp(san.sanIp, der, general);
      else if (general.tag === Tag.Context0Constructed) {
        // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY } (RFC 5280 §4.2.1.6)
        const [typeId, explicit] = children(der, general) ?? [];
        if (typeId?.tag !== Tag.Oid || explicit === undefined) continue;
        const type = oid(der, typeId);
        const list = type === MS_UPN ? san.sanUpn : type === NAI_REALM ? san.sanNaiRealm : undefined;
        const inner = list === undefined ? undefined : readTlv(der, explicit.start, explicit.end);
        if (list !== undefined && inner !== undefined) pushText(list, der, inner);
      }
    }
  }
  return san;
}

function pushText(list: string[], der: Uint8Array, tlv: Tlv): void {
  const decoded = text(der, tlv);
  if (decoded !== undefined) list.push(decoded);
}

/** RFC 5280 §4.2.1.6: an iPAddress SAN is 4 octets (IPv4) or 16 (IPv6), network byte order. */
function pushIp(list: string[], der: Uint8Array, tlv: Tlv): void {
  const octets = der.subarray(tlv.start, tlv.end);
  if (octets.length === 4) list.push(Array.from(octets).join('.'));
  else if (octets.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((octets[i]! << 8) | octets[i + 1]!).toString(16));
    list.push(compressIpv6(groups));
  }
}

/** RFC 5952 §4.2: the longest run of two or more zero groups becomes `::`. */
function compressIpv6(groups: readonly string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}
