/**
 * The first steps every request handler takes, whatever the port: decode, find the NAS client,
 * count, and the shared shapes of drops, Proxy-State and duplicate detection. A transport calls a
 * handler with the datagram and its source; UDP leaves the client to be found by source address,
 * RadSec (RFC 6614) passes the client its TLS peer authenticated as.
 */
import { Attr, decodePacket, getAttributes, type DecodeFailure, type RadiusAttribute, type RadiusPacket } from '../codec/radius/index.ts';
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import type { ClientTable, RadiusClient } from './client-table.ts';
import { packetCodeName } from './packet-names.ts';
import { ReplyCache } from './reply-cache.ts';

/** Where a datagram came from. */
export interface Source {
  readonly address: string;
  readonly port: number;
}

/** Why a request got no reply; a closed set used as a metric label (with the codec's reasons). */
export type DropReason =
  | DecodeFailure
  | 'unknown-client'
  | 'proxy-state-too-long'
  | 'shutting-down'
  | 'unsupported-code'
  | 'duplicate-in-progress'
  | 'bad-message-authenticator'
  | 'missing-message-authenticator'
  | 'bad-request-authenticator'
  | 'malformed-accounting'
  | 'record-failed'
  | 'eap-discarded'
  | 'internal-error';

/**
 * Proxy-State octets a request may carry (RFC 2865 §5.33: each proxy adds one, echoed in the
 * reply). With this bound the largest Access-Accept (about 1 KB of keys, VLAN and reply
 * attributes) still fits in 4096 octets; EAP-TLS fragments shrink to leave room for it.
 */
export const MAX_PROXY_STATE_OCTETS = 2048;

/** What a handler needs for the intake. */
export interface IntakeDeps {
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
}

/** A decoded packet and the known client it came from. */
export interface Intake {
  readonly packet: RadiusPacket;
  readonly client: RadiusClient;
}

/**
 * Decodes a datagram and finds its client: `client` when the transport knows it (RadSec), else
 * the one whose network holds the source address (RFC 2865 §3: only clients sharing a secret are
 * answered). Counts the packet received; undefined when it is dropped (counted too).
 */
export function intake(deps: IntakeDeps, clients: ClientTable, datagram: Buffer, source: Source, client?: RadiusClient): Intake | undefined {
  const decoded = decodePacket(datagram);
  if (!decoded.ok) return drop(deps, decoded.reason, source);
  const packet = decoded.packet;
  const found = client ?? clients.find(source.address);
  deps.metrics.packetsReceived.inc({ code: packetCodeName(packet.code), client: found?.name ?? 'unknown' });
  if (found === undefined) return drop(deps, 'unknown-client', source);
  return { packet, client: found };
}

/** Counts and logs (at debug) a request that gets no reply; returns undefined, the reply not sent. */
export function drop(deps: IntakeDeps, reason: DropReason, source: Source): undefined {
  deps.metrics.packetsDropped.inc({ reason });
  deps.logger.debug({ reason, source: source.address, port: source.port }, 'packet dropped');
  return undefined;
}

/** The Proxy-State attributes of a request, to echo in the reply, and the octets they take. */
export interface ProxyState {
  readonly attributes: RadiusAttribute[];
  readonly octets: number;
}

/**
 * The Proxy-State a request carries, to echo in the reply; undefined, counted and dropped as
 * `proxy-state-too-long`, when more than {@link MAX_PROXY_STATE_OCTETS} could not fit in a reply.
 */
export function proxyStateOf(deps: IntakeDeps, packet: RadiusPacket, source: Source): ProxyState | undefined {
  const values = getAttributes(packet, Attr.ProxyState);
  const octets = values.reduce((sum, value) => sum + 2 + value.length, 0);
  if (octets > MAX_PROXY_STATE_OCTETS) return drop(deps, 'proxy-state-too-long', source);
  // RFC 2865 §5.33: Proxy-State is copied unmodified and in order into the reply.
  return { attributes: values.map((value) => ({ type: Attr.ProxyState, value })), octets };
}

/** How a request stands against the reply cache: new (with its key), or answered without work. */
export type Seen = { readonly kind: 'new'; readonly key: string } | { readonly kind: 'replay'; readonly reply: Buffer | undefined };

/**
 * Duplicate detection (RFC 5080 §2.2.2): a retransmission of a request being handled is dropped,
 * one of an answered request gets the cached reply again (counted), anything else is new and
 * marked in progress under the returned key.
 */
export function checkDuplicate(deps: IntakeDeps, replies: ReplyCache, packet: RadiusPacket, source: Source, now: number): Seen {
  const key = ReplyCache.key(source.address, source.port, packet.identifier, packet.authenticator);
  const seen = replies.check(key, now);
  if (seen.kind === 'in-progress') return { kind: 'replay', reply: drop(deps, 'duplicate-in-progress', source) };
  if (seen.kind === 'answered') {
    deps.metrics.duplicatesReplayed.inc();
    return { kind: 'replay', reply: seen.reply };
  }
  return { kind: 'new', key };
}
