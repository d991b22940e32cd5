/**
 * The facts of a client certificate that rules match on. Names and SANs are read from the DER
 * (see der.ts), never parsed back out of a printed form, so that a value containing a separator
 * (`,` `+` `=` quotes) cannot forge another attribute.
 */
import type { X509Certificate } from 'node:crypto';
import { normalizeSerial } from '../config/index.ts';
import { readCertificateNames, type NameAttribute } from './der.ts';

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
  /** One-line forms for the decision log (`O=..., OU=..., CN=...`, `+` inside a multi-valued RDN). */
  readonly subjectText: string;
  readonly issuerText: string;
}

/** Reads the facts of a certificate. */
export function certificateFacts(certificate: X509Certificate): CertificateFacts {
  const names = readCertificateNames(certificate.raw);
  return {
    subject: byType(names.subject),
    issuer: byType(names.issuer),
    serial: normalizeSerial(certificate.serialNumber) ?? certificate.serialNumber,
    sanEmail: names.sanEmail,
    sanDns: names.sanDns,
    sanUri: names.sanUri,
    sanUpn: names.sanUpn,
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    subjectText: oneLine(names.subject),
    issuerText: oneLine(names.issuer),
  };
}

function byType(attributes: readonly NameAttribute[]): NameAttributes {
  const grouped: Record<string, string[]> = {};
  for (const { type, value } of attributes) (grouped[type] ??= []).push(value);
  return grouped;
}

function oneLine(attributes: readonly NameAttribute[]): string {
  return attributes
    .map((attribute, i) => `${i === 0 ? '' : attributes[i - 1]!.rdn === attribute.rdn ? '+' : ', '}${attribute.type}=${attribute.value}`)
    .join('');
}
