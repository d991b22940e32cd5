/**
 * Reads an Accounting-Request into the record the store and the sink keep (RFC 2866 §5). Pure:
 * no I/O, never throws on what the NAS sent.
 */
import {
  AcctStatusTypeValue,
  Attr,
  getAttribute,
  getIntegerAttribute,
  getStringAttribute,
  type RadiusPacket,
} from '../codec/radius/index.ts';
import type { AccountingRecord, AccountingStatus } from '../store/ports.ts';

/** Acct-Status-Type values with a name of their own (RFC 2866 §5.1); any other is `other`. */
const STATUS_NAMES: ReadonlyMap<number, AccountingStatus> = new Map([
  [AcctStatusTypeValue.Start, 'start'],
  [AcctStatusTypeValue.Stop, 'stop'],
  [AcctStatusTypeValue.InterimUpdate, 'interim-update'],
  [AcctStatusTypeValue.AccountingOn, 'accounting-on'],
  [AcctStatusTypeValue.AccountingOff, 'accounting-off'],
]);

/** Statuses about the whole NAS rather than one session: they carry no Acct-Session-Id (RFC 2866 §5.1). */
const NAS_STATUSES: ReadonlySet<AccountingStatus> = new Set(['accounting-on', 'accounting-off']);

/**
 * The record of an authenticated Accounting-Request from `client`, received at `receivedAt`
 * (Unix ms); undefined when it lacks Acct-Status-Type (RFC 2866 §5.1: it MUST be present), or
 * Acct-Session-Id on a record about a session (RFC 2866 §5.5: it MUST be present).
 */
export function accountingRecordOf(packet: RadiusPacket, client: string, receivedAt: number): AccountingRecord | undefined {
  const statusType = getIntegerAttribute(packet, Attr.AcctStatusType);
  if (statusType === undefined) return undefined;
  const status = STATUS_NAMES.get(statusType) ?? 'other';
  const sessionId = getStringAttribute(packet, Attr.AcctSessionId);
  if ((sessionId === undefined || sessionId === '') && !NAS_STATUSES.has(status)) return undefined;
  const eventTimestamp = getIntegerAttribute(packet, Attr.EventTimestamp);
  const delaySeconds = getIntegerAttribute(packet, Attr.AcctDelayTime) ?? 0;
  return {
    receivedAt,
    // RFC 2869 §5.3: Event-Timestamp, in seconds since 1970; RFC 2866 §5.2: else arrival less the delay.
    eventAt: eventTimestamp === undefined ? receivedAt - delaySeconds * 1000 : eventTimestamp * 1000,
    client,
    status,
    statusType,
    sessionId: sessionId === '' ? undefined : sessionId,
    userName: getStringAttribute(packet, Attr.UserName),
    callingStationId: getStringAttribute(packet, Attr.CallingStationId),
    calledStationId: getStringAttribute(packet, Attr.CalledStationId),
    nasIpAddress: nasAddress(packet),
    nasIdentifier: getStringAttribute(packet, Attr.NasIdentifier),
    nasPort: getIntegerAttribute(packet, Attr.NasPort),
    sessionTime: getIntegerAttribute(packet, Attr.AcctSessionTime),
    inputOctets: octets(packet, Attr.AcctInputOctets, Attr.AcctInputGigawords),
    outputOctets: octets(packet, Attr.AcctOutputOctets, Attr.AcctOutputGigawords),
    inputPackets: getIntegerAttribute(packet, Attr.AcctInputPackets),
    outputPackets: getIntegerAttribute(packet, Attr.AcctOutputPackets),
    terminateCause: getIntegerAttribute(packet, Attr.AcctTerminateCause),
  };
}

/**
 * An octet counter: the 32-bit attribute, plus its Gigawords attribute times 2^32 (RFC 2869
 * §5.1, §5.2: how often the counter wrapped). Exact up to 2^53 octets (8 PiB).
 */
function octets(packet: RadiusPacket, low: number, high: number): number | undefined {
  const value = getIntegerAttribute(packet, low);
  if (value === undefined) return undefined;
  return (getIntegerAttribute(packet, high) ?? 0) * 2 ** 32 + value;
}

/** NAS-IP-Address (RFC 2865 §5.4) as dotted quad, else NAS-IPv6-Address (RFC 3162 §2.1) in RFC 5952 form. */
function nasAddress(packet: RadiusPacket): string | undefined {
  const v4 = getAttribute(packet, Attr.NasIpAddress);
  if (v4?.length === 4) return [...v4].join('.');
  const v6 = getAttribute(packet, Attr.NasIpv6Address);
  if (v6?.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => v6.readUInt16BE(i * 2).toString(16)).join(':');
  // The WHATWG URL host serializer compresses an IPv6 address as RFC 5952 §4 asks.
  return new URL(`http://[${groups}]/`).hostname.slice(1, -1);
}
