/**
 * Helpers for the bad-input integration tests: Access-Requests built from parts (signed by the
 * codec, or by hand without Message-Authenticator), replies checked the way a NAS checks them,
 * counter deltas read from the server's registry, and the "still serves a good client" check.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import {
  Attr,
  HEADER_LENGTH,
  PacketCode,
  encodeAttributes,
  encodeRequest,
  getAttribute,
  integerAttr,
  joinEapMessage,
  splitEapMessage,
  stringAttr,
  type RadiusAttribute,
  type RadiusPacket,
} from '../../src/codec/radius/index.ts';
import { EapCode, EapType, decodeEap, decodeEapTlsData, encodeEap } from '../../src/codec/eap/index.ts';
import { authenticate } from './eapol-checks.ts';
import { verifyAccessReply } from './radius-client.ts';
import type { TestServer } from './test-server.ts';
import { SILENCE_MS, type UdpProbe } from './udp-probe.ts';

let nextIdentifier = 0;

/** What goes into a test Access-Request besides the usual NAS attributes. */
export interface RequestParts {
  /** The whole EAP packet, split into EAP-Message attributes; none when absent. */
  readonly eap?: Buffer;
  readonly state?: Buffer;
  readonly identifier?: number;
}

/** The attributes a NAS sends with every request (RFC 3580 §3), then EAP-Message and State. */
export function requestAttributes(parts: RequestParts): RadiusAttribute[] {
  return [
    stringAttr(Attr.UserName, 'device'),
    stringAttr(Attr.NasIdentifier, 'bad-input-probe'),
    stringAttr(Attr.CallingStationId, '02-00-00-00-00-01'),
    integerAttr(Attr.FramedMtu, 1400),
    ...(parts.eap === undefined ? [] : splitEapMessage(parts.eap)),
    ...(parts.state === undefined ? [] : [{ type: Attr.State, value: parts.state }]),
  ];
}

/** A well-formed Access-Request signed with `secret` (Message-Authenticator first). */
export function accessRequest(secret: string, parts: RequestParts = {}): Buffer {
  return encodeRequest({
    code: PacketCode.AccessRequest,
    identifier: parts.identifier ?? (nextIdentifier++ & 0xff),
    attributes: requestAttributes(parts),
    secret: Buffer.from(secret),
  });
}

/** An Access-Request built by hand with no Message-Authenticator at all (the codec always adds one). */
export function unsignedAccessRequest(parts: RequestParts = {}): Buffer {
  const attributes = encodeAttributes(requestAttributes(parts));
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(PacketCode.AccessRequest, 0);
  header.writeUInt8(parts.identifier ?? (nextIdentifier++ & 0xff), 1);
  header.writeUInt16BE(HEADER_LENGTH + attributes.length, 2);
  randomBytes(16).copy(header, 4);
  return Buffer.concat([header, attributes]);
}

/** EAP-Response/Identity (RFC 3748 §5.1). */
export function identityResponse(identifier = 0, identity = 'device'): Buffer {
  return encodeEap({ code: EapCode.Response, identifier, type: EapType.Identity, data: Buffer.from(identity) });
}

/** EAP-Response/EAP-TLS carrying `typeData` (RFC 5216 §3.2). */
export function tlsResponse(identifier: number, typeData: Buffer): Buffer {
  return encodeEap({ code: EapCode.Response, identifier, type: EapType.Tls, data: typeData });
}

/**
 * Checks `reply` as a strict NAS would ({@link verifyAccessReply}: Identifier, Response
 * Authenticator, Message-Authenticator first and valid) and that its code is `code`.
 * Returns the packet, or undefined after failing an assertion.
 */
export function checkReply(t: Test, request: Buffer, reply: Buffer | undefined, code: PacketCode, secret: string): RadiusPacket | undefined {
  if (!t.ok(reply, `a reply (code ${code}) arrives`) || reply === undefined) return undefined;
  let packet: RadiusPacket;
  try {
    packet = verifyAccessReply(reply, { identifier: request.readUInt8(1), authenticator: request.subarray(4, HEADER_LENGTH) }, Buffer.from(secret));
  } catch (error) {
    t.fail(`the reply verifies: ${String(error)}`);
    return undefined;
  }
  t.equal(packet.code, code, 'reply code');
  return packet;
}

/** How long a probe still listens for a reply once the server has counted the request dropped. */
const AFTER_DROP_MS = 50;

/** The counters whose every movement a bad-input case accounts for. */
const WATCHED = [
  'portcullis_radius_packets_dropped_total',
  'portcullis_authentications_total',
  'portcullis_eap_session_cap_hits_total',
  'portcullis_radius_duplicates_replayed_total',
] as const;

/** A counter series named as in the Prometheus text format, e.g. `x_total{reason="too-short"}`. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const inner = Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key] ?? ''}"`)
    .join(',');
  return inner === '' ? name : `${name}{${inner}}`;
}

/** The series of the dropped-packet counter for `reason`. */
export const dropped = (reason: string): string => series('portcullis_radius_packets_dropped_total', { reason });
/** The series of a reject with `reason` in the authentications counter. */
export const rejected = (reason: string): string => series('portcullis_authentications_total', { outcome: 'reject', reason });

/** Values of every watched series now. */
export async function counters(s: TestServer): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  for (const name of WATCHED) {
    const metric = s.server.metrics.registry.getSingleMetric(name);
    if (metric === undefined) continue;
    for (const value of (await metric.get()).values) {
      values.set(series(name, value.labels as Record<string, string>), value.value);
    }
  }
  return values;
}

/** The watched series that moved since `before`, with how much. */
export async function movedSince(s: TestServer, before: ReadonlyMap<string, number>): Promise<Record<string, number>> {
  const moved: Record<string, number> = {};
  for (const [key, value] of await counters(s)) {
    const delta = value - (before.get(key) ?? 0);
    if (delta !== 0) moved[key] = delta;
  }
  return moved;
}

/** The sum of the dropped-packet counter over all reasons. */
export async function droppedTotal(s: TestServer): Promise<number> {
  let total = 0;
  for (const [key, value] of await counters(s)) if (key.startsWith('portcullis_radius_packets_dropped_total')) total += value;
  return total;
}

/** Waits until the dropped counter reaches `total` over all reasons; false after `timeoutMs`. */
export async function waitForDrops(s: TestServer, total: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await droppedTotal(s)) < total) {
    if (Date.now() >= deadline) return false;
    await sleep(2);
  }
  return true;
}

/**
 * Sends `datagram`; asserts no reply and exactly one drop, for `reason`, and nothing else counted.
 * The server runs in this process and counts a drop only once its handler has returned nothing, so
 * the silence window can close early: {@link AFTER_DROP_MS} after the drop is counted.
 */
export async function expectDropped(t: Test, s: TestServer, probe: UdpProbe, datagram: Buffer, reason: string): Promise<void> {
  const before = await counters(s);
  const droppedBefore = await droppedTotal(s);
  await probe.send(datagram);
  await waitForDrops(s, droppedBefore + 1, SILENCE_MS);
  const reply = await probe.next(AFTER_DROP_MS);
  t.equal(reply, undefined, `${reason}: no reply`);
  t.same(await movedSince(s, before), { [dropped(reason)]: 1 }, `${reason}: dropped and counted once`);
}

/**
 * Sends `request`; asserts a verified Access-Reject whose Reply-Message names `reason`, one
 * reject counted for it and nothing else. Returns the reply.
 */
export async function expectRejected(t: Test, s: TestServer, probe: UdpProbe, request: Buffer, reason: string): Promise<RadiusPacket | undefined> {
  const before = await counters(s);
  const packet = checkReply(t, request, await probe.exchange(request), PacketCode.AccessReject, s.secret);
  t.equal(packet && getAttribute(packet, Attr.ReplyMessage)?.toString(), `rejected: ${reason}`, `${reason}: Reply-Message`);
  t.same(await movedSince(s, before), { [rejected(reason)]: 1 }, `${reason}: rejected and counted once`);
  return packet;
}

/** An open EAP-TLS conversation as the peer sees it: the State and the outstanding EAP Identifier. */
export interface Conversation {
  readonly state: Buffer;
  identifier: number;
}

/** Reads the EAP-Request of an Access-Challenge and the State that goes with it. */
export function challengeOf(t: Test, packet: RadiusPacket | undefined): { conversation: Conversation; typeData: Buffer } | undefined {
  const state = packet && getAttribute(packet, Attr.State);
  const eap = packet && joinEapMessage(packet);
  if (!t.ok(state !== undefined && eap !== undefined, 'the challenge carries State and EAP-Message')) return undefined;
  const decoded = decodeEap(eap ?? Buffer.alloc(0));
  if (!t.ok(decoded.ok && decoded.packet.code === EapCode.Request && decoded.packet.type === EapType.Tls, 'an EAP-Request/EAP-TLS') || !decoded.ok) {
    return undefined;
  }
  return { conversation: { state: state ?? Buffer.alloc(0), identifier: decoded.packet.identifier }, typeData: decoded.packet.data };
}

/** Sends EAP-Response/Identity and returns the conversation the EAP-TLS Start opened. */
export async function openConversation(t: Test, s: TestServer, probe: UdpProbe): Promise<Conversation> {
  const request = accessRequest(s.secret, { eap: identityResponse() });
  const challenge = challengeOf(t, checkReply(t, request, await probe.exchange(request), PacketCode.AccessChallenge, s.secret));
  const flags = challenge && decodeEapTlsData(challenge.typeData);
  t.ok(flags?.ok === true && flags.start, 'the first challenge is EAP-TLS Start');
  if (challenge === undefined) throw new Error('no conversation opened');
  return challenge.conversation;
}

/**
 * Sends one EAP-TLS response in `conversation` and checks the reply: an Access-Challenge carrying
 * an EAP-TLS ACK (the conversation's Identifier moves on), or the Access-Reject that ends it.
 */
export async function sendTls(
  t: Test,
  s: TestServer,
  probe: UdpProbe,
  conversation: Conversation,
  typeData: Buffer,
  expect: 'ack' | 'reject',
): Promise<RadiusPacket | undefined> {
  const request = accessRequest(s.secret, { eap: tlsResponse(conversation.identifier, typeData), state: conversation.state });
  const reply = await probe.exchange(request);
  if (expect === 'reject') return checkReply(t, request, reply, PacketCode.AccessReject, s.secret);
  const challenge = challengeOf(t, checkReply(t, request, reply, PacketCode.AccessChallenge, s.secret));
  t.equal(challenge?.typeData.toString('hex'), '00', 'the challenge is an EAP-TLS ACK');
  if (challenge !== undefined) conversation.identifier = challenge.conversation.identifier;
  return undefined;
}

/** The last `event: decision` log line. */
export function lastDecision(s: TestServer): Record<string, unknown> | undefined {
  return s.decisions().at(-1);
}

/** Runs one good eapol_test authentication (client-ec, TLS 1.2) and asserts it succeeds. */
export async function assertStillServes(t: Test, s: TestServer, after: string): Promise<void> {
  const { result, why } = await authenticate(s, { client: 'client-ec', tls: 'TLSv1.2' });
  t.ok(result.success, `after ${after}: a good client still authenticates`, why);
  t.equal(result.lastReplyCode, 'Access-Accept', `after ${after}: Access-Accept`, why);
}
