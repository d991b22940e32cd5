/**
 * The facts of a client certificate that rules match on, read from Node's `X509Certificate`.
 *
 * Node prints subjects as `KEY=value` lines and SANs as `type:value, ...`; values holding
 * separators are JSON-quoted (Node >= 17.3), which is undone here.
 */
import type { X509Certificate } from 'node:crypto';
import { normalizeSerial } from '../config/index.ts';

/** Distinguished-name attributes by short name (`CN`, `OU`, ...); a name may repeat. */
export type NameAttributes = Readonly<Record<string, readonly string[]>>;

/** What rules can match in a certificate. */
export interface CertificateFacts {
  readonly subject: NameAttributes;
  readonly issuer: NameAttributes;
  /** Upper-case hex without leading zeros or separators (config's `normalizeSerial`). */
  readonly serial: string;
  readonly sanEmail: readonly string[];
  readonly sanDns: readonly string[];
  readonly sanUri: readonly string[];
  readonly sanUpn: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** One-line forms for the decision log. */
  readonly subjectText: string;
  readonly issuerText: string;
}

/** Reads the facts of a certificate. */
export function certificateFacts(certificate: X509Certificate): CertificateFacts {
  const san = parseSubjectAltName(certificate.subjectAltName);
  return {
    subject: parseName(certificate.subject),
    issuer: parseName(certificate.issuer),
    serial: normalizeSerial(certificate.serialNumber) ?? certificate.serialNumber,
    sanEmail: san.get('email') ?? [],
    sanDns: san.get('DNS') ?? [],
    sanUri: san.get('URI') ?? [],
    sanUpn: san.get('othername:UPN') ?? [],
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    subjectText: certificate.subject.split('\n').join(', '),
    issuerText: certificate.issuer.split('\n').join(', '),
  };
}

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'string' ? parsed : value;
  } catch {
    return value;
  }
}

/** Parses Node's `KEY=value` per-line name form; multi-valued RDNs are joined with `+`. */
function parseName(text: string): NameAttributes {
  const attributes: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    for (const part of splitOutsideQuotes(line, '+')) {
      const eq = part.indexOf('=');
      if (eq <= 0) continue;
      const key = part.slice(0, eq);
      (attributes[key] ??= []).push(unquote(part.slice(eq + 1)));
    }
  }
  return attributes;
}

/** Parses Node's `subjectAltName` (`DNS:a, email:b, othername:UPN:c`) into lists by type. */
function parseSubjectAltName(text: string | undefined): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  if (text === undefined) return byType;
  for (const entry of splitOutsideQuotes(text, ', ')) {
    const upn = 'othername:UPN:';
    const type = entry.startsWith(upn) ? upn.slice(0, -1) : entry.slice(0, entry.indexOf(':'));
    if (type === '') continue;
    const value = unquote(entry.slice(type.length + 1));
    const list = byType.get(type);
    if (list === undefined) byType.set(type, [value]);
    else list.push(value);
  }
  return byType;
}

/** Splits on a separator that is not inside a JSON-quoted value. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && quoted) i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
