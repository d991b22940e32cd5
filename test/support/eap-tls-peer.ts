/**
 * Unit-test helpers for the EAP session: a TLS engine on the dev PKI, and an EAP-TLS peer that
 * runs `node:tls` as the client over an in-memory {@link RecordPipe} and talks EAP packets
 * straight to an {@link EapSession} (no RADIUS).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EapCode, EapType, decodeEap, decodeEapTlsData, encodeEapTlsData, type EapPacket } from '../../src/codec/eap/index.ts';
import { EapSession, type EapResult, type Judge, type SessionLimits } from '../../src/eap/session.ts';
import { ensureDevPki, type DevClientName, type DevPkiPaths } from '../../src/pki/dev-pki.ts';
import { AlertDescription } from '../../src/tls/alert.ts';
import { TlsEngine, type HandshakeResult, type TlsVersion } from '../../src/tls/engine.ts';
import { RecordPipe } from './record-pipe.ts';

/** The dev PKI shared by the tests. */
export async function devPki(): Promise<DevPkiPaths> {
  return (await ensureDevPki(join(tmpdir(), 'portcullis-test-pki'))).paths;
}

/** A TLS engine with the dev server certificate, trusting the dev root and intermediate. */
export function devEngine(pki: DevPkiPaths, maxVersion: TlsVersion = 'TLSv1.3'): TlsEngine {
  return new TlsEngine({
    certificateChain: readFileSync(pki.server.cert),
    privateKey: readFileSync(pki.server.key),
    caCertificates: [readFileSync(pki.root.cert), readFileSync(pki.intermediate.cert)],
    issuers: [new X509Certificate(readFileSync(pki.root.cert)), new X509Certificate(readFileSync(pki.intermediate.cert))],
    minVersion: 'TLSv1.2',
    maxVersion,
    resumption: false,
    resumptionLifetimeSeconds: 60,
  });
}

/** Generous limits; tests that probe a limit pass their own. */
export const LIMITS: SessionLimits = { maxRounds: 40, maxTlsMessageBytes: 65536 };

/** TLS bytes per EAP-TLS fragment the server sends in these tests. */
export const FRAGMENT = 1024;

/** An EAP-Response/Identity. */
export function identityResponse(identifier: number, identity = 'anonymous@portcullis.test'): EapPacket {
  return { code: EapCode.Response, identifier, type: EapType.Identity, data: Buffer.from(identity) };
}

/** An EAP-Response/EAP-TLS carrying `fragment` (empty: an ACK). */
export function tlsResponse(identifier: number, fragment: Buffer = Buffer.alloc(0)): EapPacket {
  return { code: EapCode.Response, identifier, type: EapType.Tls, data: encodeEapTlsData({ fragment }) };
}

/** Decodes an EAP packet the session produced; throws on a broken one. */
export function decoded(eap: Buffer): EapPacket {
  const result = decodeEap(eap);
  if (!result.ok) throw new Error(`the session produced a bad EAP packet: ${result.reason}`);
  return result.packet;
}

/** The client side of one EAP-TLS conversation, with a dev PKI client certificate. */
export class EapTlsPeer {
  readonly #pipe = new RecordPipe();
  readonly #socket: tls.TLSSocket;
  /** Server flight being reassembled from fragments. */
  #flight: Buffer[] = [];

  /** @param client a dev PKI client, or PEM files of another certificate (chain) and key. */
  constructor(pki: DevPkiPaths, client: DevClientName | { cert: string; key: string } = 'client-ec', maxVersion: TlsVersion = 'TLSv1.3') {
    const files = typeof client === 'string' ? pki.clients[client] : client;
    this.#socket = tls.connect({
      socket: this.#pipe,
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      ca: readFileSync(pki.root.cert),
      servername: 'radius.portcullis.test',
      maxVersion,
    });
    // A refused handshake ends in a TLS alert from the server: kept for the test to read.
    this.#socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error;
    });
  }

  /** The error the client TLS stack reported, e.g. `ERR_SSL_TLSV1_ALERT_ACCESS_DENIED`. */
  error: NodeJS.ErrnoException | undefined;

  /** The ClientHello, once node:tls has written it. */
  async clientHello(): Promise<Buffer> {
    while (this.#pipe.pendingBytes === 0) await nextTurn();
    await this.#pipe.settle();
    return this.#pipe.takeOutput();
  }

  /**
   * Answers one EAP-Request/EAP-TLS: ACKs a fragment with M set, else hands the whole flight to
   * TLS and sends what TLS wrote back (an ACK when it wrote nothing).
   */
  async answer(request: EapPacket): Promise<EapPacket> {
    const data = decodeEapTlsData(request.data);
    if (!data.ok) throw new Error(`bad EAP-TLS request: ${data.reason}`);
    this.#flight.push(Buffer.from(data.fragment));
    if (data.more) return tlsResponse(request.identifier);
    const flight = Buffer.concat(this.#flight);
    this.#flight = [];
    this.#pipe.deliver(flight);
    await this.#pipe.settle();
    return tlsResponse(request.identifier, this.#pipe.takeOutput());
  }

  /** Releases the client socket. */
  destroy(): void {
    this.#socket.destroy();
    this.#pipe.destroy();
  }
}

/**
 * Runs a conversation from the EAP-TLS Start until it ends: the peer answers every challenge.
 * `judge` is called once the handshake is established. Resolves to the last result, the number
 * of responses sent and every request the peer answered.
 */
export async function converse(
  session: EapSession,
  start: Buffer,
  peer: EapTlsPeer,
  judge: Judge,
  now = Date.now(),
): Promise<{ last: EapResult; responses: number; requests: EapPacket[] }> {
  const requests: EapPacket[] = [];
  let response = tlsResponse(decoded(start).identifier, await peer.clientHello());
  for (let responses = 1; ; responses++) {
    const result = await session.respond(response, FRAGMENT, judge, now);
    if (result.kind !== 'challenge') return { last: result, responses, requests };
    requests.push(decoded(result.eap));
    response = await peer.answer(decoded(result.eap));
  }
}

/** The handshake a client certificate establishes with `engine`, as the policy would see it. */
export async function handshakeWith(engine: TlsEngine, peer: EapTlsPeer): Promise<HandshakeResult | undefined> {
  const { session, start } = EapSession.begin({ clientName: 'nas', identity: identityResponse(1), engine, limits: LIMITS, now: 0, onTransition: () => {} });
  let seen: HandshakeResult | undefined;
  await converse(session, start, peer, async (handshake) => {
    seen = handshake;
    return { accept: false, reason: 'probe', alert: AlertDescription.AccessDenied };
  });
  peer.destroy();
  return seen;
}

/** A judge whose verdict the test releases; `called` resolves when the session asks. */
export function heldJudge(): { judge: Judge; called: Promise<void>; release: (accept: boolean) => void } {
  let markCalled = (): void => {};
  const called = new Promise<void>((resolve) => {
    markCalled = resolve;
  });
  let release: (accept: boolean) => void = () => {};
  const verdict = new Promise<boolean>((resolve) => {
    release = resolve;
  });
  const judge: Judge = async () => {
    markCalled();
    return (await verdict) ? { accept: true } : { accept: false, reason: 'held-refusal', alert: AlertDescription.AccessDenied };
  };
  return { judge, called, release };
}
