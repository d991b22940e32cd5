/**
 * An EAP-TLS peer (RFC 5216, RFC 9190) written in TypeScript, run inside the test process and
 * talking to the server through a {@link RadiusTestClient} that plays the NAS. It answers
 * EAP-Request/Identity, runs `node:tls` as the client over an in-memory transport, fragments its
 * own flights, ACKs the server's fragments, checks the TLS 1.3 protected success indication, and
 * derives MSK, EMSK and Session-Id on its side so that tests can compare them with what the server
 * sent to the NAS.
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { SecureVersion } from 'node:tls';
import {
  EapCode, EapType, TlsFragmenter, TlsReassembler,
  decodeEap, decodeEapTlsData, encodeEap, encodeEapTlsData,
  type EapPacket, type EapTlsData,
} from '../../src/codec/eap/index.ts';
import {
  Attr, PacketCode, getAttribute, integerAttr, joinEapMessage, splitEapMessage, stringAttr,
  type RadiusAttribute, type RadiusPacket,
} from '../../src/codec/radius/index.ts';
import type { DevClientName, DevPkiPaths } from '../../src/pki/dev-pki.ts';
import { RecordPipe } from './record-pipe.ts';
import { RadiusTestClient, type RadiusExchange } from './radius-client.ts';
import type { TestServer } from './test-server.ts';

/** The EAP identity (and User-Name) when none is given. */
const DEFAULT_IDENTITY = 'anonymous@portcullis.test';
/** The DNS name in the dev PKI's server certificate. */
const DEFAULT_SERVER_NAME = 'radius.portcullis.test';
/** EAP-TLS Type, also the exporter context of RFC 9190 §2.3. */
const EAP_TLS_TYPE = 0x0d;
const TLS_CONTENT_HANDSHAKE = 22;
const TLS_RECORD_HEADER = 5;
/** Largest TLS flight the peer reassembles from the server (same order as the server's cap). */
const MAX_SERVER_FLIGHT_BYTES = 64 * 1024;

/** Where a conversation's Access-Requests go: a NAS over UDP, or a RadSec connection shared by many. */
export interface AccessExchanger {
  /** Encodes and sends an Access-Request; resolves with the verified reply. */
  exchange(attributes: readonly RadiusAttribute[]): Promise<RadiusExchange>;
}

/** What the test can do while a conversation runs. */
export interface SupplicantHooks {
  /**
   * Called before each Access-Request leaves. `attributesFor` builds the request's attributes
   * around any EAP packet (State included), e.g. to send a doctored response through `client` first.
   */
  beforeRequest?(step: {
    readonly round: number;
    readonly eap: Buffer;
    readonly attributesFor: (eap: Buffer) => RadiusAttribute[];
    readonly client: RadiusTestClient;
  }): Promise<void> | void;
  /** Called with each verified reply before the peer acts on it, e.g. to resend the request. */
  afterReply?(step: { readonly round: number; readonly exchange: RadiusExchange; readonly client: RadiusTestClient }): Promise<void> | void;
}

/** Options of {@link EapTlsSupplicant}. */
export interface SupplicantOptions {
  /** The server's UDP port on 127.0.0.1. */
  readonly port: number;
  /** The RADIUS shared secret of the NAS. */
  readonly secret: string | Buffer;
  /** PEM: the client certificate, then its chain. */
  readonly cert: string | Buffer;
  /** PEM private key of the client certificate. */
  readonly key: string | Buffer;
  /** PEM trust anchor(s) for the server certificate. */
  readonly ca: string | Buffer;
  /** A context built once from cert, key and ca, for many runs (a load generator); built per run when absent. */
  readonly secureContext?: tls.SecureContext;
  /** EAP identity and User-Name; `anonymous@portcullis.test` by default. */
  readonly identity?: string;
  /** Name checked against the server certificate; `radius.portcullis.test` by default. */
  readonly serverName?: string;
  readonly minVersion?: SecureVersion;
  readonly maxVersion?: SecureVersion;
  /** TLS octets per EAP-TLS fragment the peer sends; 1024 by default. */
  readonly fragmentSize?: number;
  /** Framed-MTU (RFC 2865 §5.12) sent in every request; 1400 by default, null: not sent. */
  readonly framedMtu?: number | null;
  /** Calling-Station-Id (the supplicant's MAC); null: not sent. */
  readonly callingStationId?: string | null;
  /** Called-Station-Id (the AP's MAC and SSID); null: not sent. */
  readonly calledStationId?: string | null;
  /** NAS-Identifier; null: not sent. */
  readonly nasIdentifier?: string | null;
  /** Send an empty EAP-Key-Name in every request, asking for the Session-Id (RFC 4072 §6.2). */
  readonly requestKeyName?: boolean;
  /** A session from an earlier {@link SupplicantResult.session}, offered for resumption. */
  readonly session?: Buffer;
  /** Answer EAP-TLS Start with a legacy Nak proposing these types (RFC 3748 §5.3.1) instead of TLS. */
  readonly nak?: readonly number[];
  /** Identifier of the EAP-Response/Identity (the NAS's Request/Identity is not modelled); 0 by default. */
  readonly firstEapIdentifier?: number;
  /** Give up after this many RADIUS round trips; 50 by default. */
  readonly maxRounds?: number;
  /** How long each reply is awaited; 5000 ms by default. */
  readonly timeoutMs?: number;
  readonly hooks?: SupplicantHooks;
}

/** EAP-TLS keys derived by the peer (RFC 5216 §2.3, RFC 9190 §2.3). */
export interface PeerKeyMaterial {
  /** Master Session Key, 64 octets. */
  readonly msk: Buffer;
  /** Extended Master Session Key, 64 octets. */
  readonly emsk: Buffer;
  /** EAP Session-Id: 0x0D || client.random || server.random (1.2), 0x0D || Method-Id (1.3). */
  readonly sessionId: Buffer;
}

/** What one conversation ended with. */
export interface SupplicantResult {
  readonly outcome: 'accept' | 'reject';
  /** The final Access-Accept or Access-Reject. */
  readonly reply: RadiusPacket;
  /** The Request Authenticator of the request {@link reply} answers (RFC 2548 key hiding uses it). */
  readonly requestAuthenticator: Buffer;
  /** The EAP packet of the final reply (Success or Failure), when it carried one. */
  readonly finalEap: EapPacket | undefined;
  /** RADIUS round trips, the Identity round included. */
  readonly rounds: number;
  /** Every request and verified reply, in order. */
  readonly exchanges: readonly RadiusExchange[];
  /** The EAP-Responses the peer sent, one per exchange. */
  readonly responses: readonly EapPacket[];
  /** The EAP-Requests the server sent in Access-Challenges, in order. */
  readonly challenges: readonly EapPacket[];
  /** The negotiated TLS version, once a ServerHello was processed. */
  readonly tlsVersion: string | undefined;
  /** The client completed the TLS handshake. */
  readonly handshakeComplete: boolean;
  /** The handshake resumed the offered session (`isSessionReused()`). */
  readonly resumed: boolean;
  /** RFC 9190 §2.1.1: the one application-data octet 0x00 arrived. */
  readonly successIndication: boolean;
  /**
   * The session to offer next time: the last one (ticket) the server gave, or after a resumption
   * without a new ticket the one offered, as a real peer keeps it.
   */
  readonly session: Buffer | undefined;
  /** The TLS error the client saw (e.g. an alert from the server). */
  readonly tlsError: Error | undefined;
  /** MSK, EMSK, Session-Id; set when the handshake completed. */
  readonly msk: Buffer | undefined;
  readonly emsk: Buffer | undefined;
  readonly sessionId: Buffer | undefined;
}

/** The credentials of one dev PKI client, and the root CA that the server certificate chains to. */
export async function peerCredentials(
  pki: DevPkiPaths,
  name: DevClientName,
): Promise<{ readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer }> {
  const client = pki.clients[name];
  const [cert, key, ca] = await Promise.all([readFile(client.cert), readFile(client.key), readFile(pki.root.cert)]);
  return { cert, key, ca };
}

/** Runs a supplicant against `server` with the given credentials and options (see {@link testSupplicant}). */
export type SupplicantRun = (options?: Partial<SupplicantOptions>) => Promise<SupplicantResult>;

/**
 * The usual harness of a test: a runner that authenticates against a {@link TestServer} with the
 * dev PKI client `name` (`client-ec`, OU Staff, by default) unless options say otherwise.
 */
export async function testSupplicant(server: TestServer, name: DevClientName = 'client-ec'): Promise<SupplicantRun> {
  const credentials = await peerCredentials(server.pki, name);
  return (options = {}) => new EapTlsSupplicant({ port: server.port, secret: server.secret, ...credentials, ...options }).run();
}

/** The decision log lines of the conversations whose NAS sent this Calling-Station-Id. */
export function decisionsOf(server: TestServer, callingStationId: string): Record<string, unknown>[] {
  return server.decisions().filter((line) => line['calling_station_id'] === callingStationId);
}

/** The client side of one TLS handshake over EAP: records in, records out. */
class PeerTls {
  readonly pipe = new RecordPipe();
  readonly socket: tls.TLSSocket;
  complete = false;
  successIndication = false;
  session: Buffer | undefined;
  error: Error | undefined;
  /** Plaintext application data other than the success indication (a protocol error here). */
  unexpectedData: Buffer | undefined;
  clientRandom: Buffer | undefined;
  serverRandom: Buffer | undefined;

  constructor(options: SupplicantOptions) {
    this.socket = tls.connect({
      socket: this.pipe,
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      servername: options.serverName ?? DEFAULT_SERVER_NAME,
      minVersion: options.minVersion ?? 'TLSv1.2',
      maxVersion: options.maxVersion ?? 'TLSv1.3',
      rejectUnauthorized: true,
      ...(options.session === undefined ? {} : { session: options.session }),
      ...(options.secureContext === undefined ? {} : { secureContext: options.secureContext }),
    });
    this.socket.on('secureConnect', () => {
      this.complete = true;
    });
    this.socket.on('session', (session: Buffer) => {
      this.session = session;
    });
    this.socket.on('data', (data: Buffer) => {
      // RFC 9190 §2.1.1: the server's protected success indication is exactly one octet 0x00.
      if (data.length === 1 && data[0] === 0x00 && !this.successIndication) this.successIndication = true;
      else this.unexpectedData = data;
    });
    this.socket.on('error', (error: Error) => {
      this.error = error;
    });
  }

  /** The ClientHello (or whatever the stack writes first). */
  async start(): Promise<Buffer> {
    const output = await this.#drain();
    this.clientRandom ??= helloRandom(output, 1);
    return output;
  }

  /** Delivers one reassembled server flight; returns what the client wrote in answer. */
  async receive(flight: Buffer): Promise<Buffer> {
    this.serverRandom ??= helloRandom(flight, 2);
    this.pipe.deliver(flight);
    return this.#drain();
  }

  /** MSK, EMSK and Session-Id, exported on the client side. */
  keyMaterial(): PeerKeyMaterial | undefined {
    if (!this.complete) return undefined;
    const version = this.socket.getProtocol();
    const context = Buffer.from([EAP_TLS_TYPE]);
    if (version === 'TLSv1.3') {
      // RFC 9190 §2.3.
      const material = this.socket.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', context);
      const methodId = this.socket.exportKeyingMaterial(64, 'EXPORTER_EAP_TLS_Method-Id', context);
      return { msk: material.subarray(0, 64), emsk: material.subarray(64), sessionId: Buffer.concat([context, methodId]) };
    }
    if (version !== 'TLSv1.2' || this.clientRandom === undefined || this.serverRandom === undefined) return undefined;
    // RFC 5216 §2.3: PRF(master, "client EAP encryption", client.random || server.random), i.e.
    // the exporter with no context at all (undefined, not an empty buffer).
    const material = this.socket.exportKeyingMaterial(128, 'client EAP encryption', undefined as unknown as Buffer);
    return {
      msk: material.subarray(0, 64),
      emsk: material.subarray(64),
      sessionId: Buffer.concat([context, this.clientRandom, this.serverRandom]),
    };
  }

  destroy(): void {
    this.socket.destroy();
    this.pipe.destroy();
  }

  /** Waits until the TLS stack has been quiet, then takes its output. */
  async #drain(): Promise<Buffer> {
    await this.pipe.settle();
    return this.pipe.takeOutput();
  }
}

/**
 * An EAP-TLS peer plus the NAS in front of it. Each {@link run} is one whole authentication on a
 * fresh UDP socket and a fresh TLS client; offer `options.session` to resume.
 */
export class EapTlsSupplicant {
  readonly #options: SupplicantOptions;

  constructor(options: SupplicantOptions) {
    this.#options = options;
  }

  /**
   * Runs one authentication to Access-Accept or Access-Reject, on a fresh UDP socket unless
   * `exchanger` carries the requests (hooks need the UDP socket). Throws on protocol violations
   * by the server.
   */
  async run(exchanger?: AccessExchanger): Promise<SupplicantResult> {
    if (exchanger !== undefined) {
      if (this.#options.hooks !== undefined) throw new Error('supplicant hooks need the UDP client, not an exchanger');
      const conversation = new Conversation(this.#options, exchanger, undefined);
      try {
        return await conversation.run();
      } finally {
        conversation.destroy();
      }
    }
    const client = await RadiusTestClient.open({
      port: this.#options.port,
      secret: this.#options.secret,
      ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }),
    });
    const conversation = new Conversation(this.#options, client, client);
    try {
      return await conversation.run();
    } finally {
      conversation.destroy();
      await client.close();
    }
  }
}

/** One authentication: the loop of requests and replies. */
class Conversation {
  readonly #options: SupplicantOptions;
  readonly #exchanger: AccessExchanger;
  /** The UDP client the hooks may use; undefined when an exchanger shared by others carries the requests. */
  readonly #client: RadiusTestClient | undefined;
  readonly #exchanges: RadiusExchange[] = [];
  readonly #responses: EapPacket[] = [];
  readonly #challenges: EapPacket[] = [];
  readonly #reassembler = new TlsReassembler(MAX_SERVER_FLIGHT_BYTES);
  #tls: PeerTls | undefined;
  /** Our flight being sent in fragments; each fragment but the last is ACKed by the server. */
  #outgoing: TlsFragmenter | undefined;
  #state: Buffer | undefined;
  #tlsVersion: string | undefined;

  constructor(options: SupplicantOptions, exchanger: AccessExchanger, client: RadiusTestClient | undefined) {
    this.#options = options;
    this.#exchanger = exchanger;
    this.#client = client;
  }

  async run(): Promise<SupplicantResult> {
    const identity = this.#options.identity ?? DEFAULT_IDENTITY;
    // RFC 3748 §5.1: EAP-Response/Identity answers the NAS's EAP-Request/Identity.
    let eap = encodeEap({
      code: EapCode.Response,
      identifier: this.#options.firstEapIdentifier ?? 0,
      type: EapType.Identity,
      data: Buffer.from(identity, 'utf8'),
    });
    const maxRounds = this.#options.maxRounds ?? 50;
    for (let round = 1; round <= maxRounds; round++) {
      const exchange = await this.#roundTrip(round, eap);
      const { reply } = exchange;
      const received = joinEapMessage(reply);
      const packet = received === undefined ? undefined : decodeEapOrThrow(received, `round ${round}: reply`);
      if (reply.code !== PacketCode.AccessChallenge) return this.#finish(reply, exchange, packet, round);
      if (packet === undefined) throw new Error(`round ${round}: Access-Challenge without EAP-Message`);
      // RFC 3579 §2.6.1: the State of an Access-Challenge is echoed in the next Access-Request.
      const state = getAttribute(reply, Attr.State);
      if (state === undefined) throw new Error(`round ${round}: Access-Challenge without State`);
      this.#state = Buffer.from(state);
      this.#challenges.push(packet);
      eap = await this.#answer(packet, round);
    }
    throw new Error(`no final reply after ${maxRounds} rounds`);
  }

  destroy(): void {
    this.#tls?.destroy();
  }

  async #roundTrip(round: number, eap: Buffer): Promise<RadiusExchange> {
    const client = this.#client;
    const hooks = client === undefined ? undefined : this.#options.hooks;
    await hooks?.beforeRequest?.({ round, eap, attributesFor: (other) => this.#attributes(other), client: client! });
    const exchange = await this.#exchanger.exchange(this.#attributes(eap));
    this.#exchanges.push(exchange);
    this.#responses.push(decodeEapOrThrow(eap, `round ${round}: own response`));
    await hooks?.afterReply?.({ round, exchange, client: client! });
    return exchange;
  }

  /** The attributes a NAS puts in every Access-Request of a conversation (RFC 3579 §3, RFC 3580 §3). */
  #attributes(eap: Buffer): RadiusAttribute[] {
    const o = this.#options;
    const list: RadiusAttribute[] = [stringAttr(Attr.UserName, o.identity ?? DEFAULT_IDENTITY)];
    const framedMtu = o.framedMtu === undefined ? 1400 : o.framedMtu;
    if (framedMtu !== null) list.push(integerAttr(Attr.FramedMtu, framedMtu));
    const text = (type: number, value: string | null | undefined, fallback: string): void => {
      const chosen = value === undefined ? fallback : value;
      if (chosen !== null) list.push(stringAttr(type, chosen));
    };
    text(Attr.CallingStationId, o.callingStationId, '02-00-00-00-00-01');
    text(Attr.CalledStationId, o.calledStationId, '0A-00-00-00-00-01:portcullis');
    text(Attr.NasIdentifier, o.nasIdentifier, 'test-nas');
    if (o.requestKeyName === true) list.push({ type: Attr.EapKeyName, value: Buffer.alloc(0) });
    list.push(...splitEapMessage(eap));
    if (this.#state !== undefined) list.push({ type: Attr.State, value: this.#state });
    return list;
  }

  /** The EAP-Response to one EAP-Request of the server. */
  async #answer(request: EapPacket, round: number): Promise<Buffer> {
    if (request.code !== EapCode.Request) throw new Error(`round ${round}: Access-Challenge with EAP code ${request.code}`);
    const respond = (data: Buffer): Buffer =>
      encodeEap({ code: EapCode.Response, identifier: request.identifier, type: EapType.Tls, data });
    if (request.type !== EapType.Tls) throw new Error(`round ${round}: EAP-Request of type ${String(request.type)}`);
    const tlsData = eapTlsData(request);

    if (tlsData.start) {
      // RFC 5216 §2.1.1: Start carries no data and opens the conversation.
      if (this.#tls !== undefined || tlsData.fragment.length !== 0) throw new Error(`round ${round}: unexpected EAP-TLS Start`);
      const nak = this.#options.nak;
      if (nak !== undefined) {
        return encodeEap({ code: EapCode.Response, identifier: request.identifier, type: EapType.Nak, data: Buffer.from(nak) });
      }
      this.#tls = new PeerTls(this.#options);
      return respond(this.#sendFlight(await this.#tls.start(), round));
    }
    const peer = this.#tls;
    if (peer === undefined) throw new Error(`round ${round}: EAP-TLS data before Start`);

    const outgoing = this.#outgoing;
    if (outgoing !== undefined && !outgoing.done) {
      // RFC 5216 §2.1.5: while we fragment, the server answers each fragment with an empty request.
      if (tlsData.fragment.length !== 0 || tlsData.more || tlsData.length) {
        throw new Error(`round ${round}: the server sent data instead of an ACK of our fragment`);
      }
      return respond(outgoing.next().data);
    }

    const added = this.#reassembler.add(tlsData);
    if (added.status === 'error') throw new Error(`round ${round}: server fragments do not reassemble: ${added.reason}`);
    // RFC 5216 §2.1.5: each server fragment with M set is ACKed with an empty EAP-TLS response.
    if (added.status === 'need-more') return respond(encodeEapTlsData({ fragment: Buffer.alloc(0) }));
    if (added.message.length === 0) throw new Error(`round ${round}: an empty EAP-TLS request where TLS data was due`);
    const output = await peer.receive(added.message);
    this.#tlsVersion = peer.socket.getProtocol() ?? this.#tlsVersion;
    if (peer.unexpectedData !== undefined) throw new Error(`round ${round}: unexpected application data from the server`);
    // Nothing to say (the handshake is done, the success indication or an alert arrived): ACK.
    if (output.length === 0) return respond(encodeEapTlsData({ fragment: Buffer.alloc(0) }));
    return respond(this.#sendFlight(output, round));
  }

  /** Starts sending one flight; returns the first fragment's Type-Data (L and M set when fragmented). */
  #sendFlight(flight: Buffer, round: number): Buffer {
    if (flight.length === 0) throw new Error(`round ${round}: the TLS client wrote nothing`);
    this.#outgoing = new TlsFragmenter(flight, this.#options.fragmentSize ?? 1024);
    return this.#outgoing.next().data;
  }

  #finish(reply: RadiusPacket, exchange: RadiusExchange, finalEap: EapPacket | undefined, rounds: number): SupplicantResult {
    const peer = this.#tls;
    const accepted = reply.code === PacketCode.AccessAccept;
    if (accepted) {
      // RFC 3748 §4.2 and a strict peer (hostapd 2.11): Success only after a finished handshake
      // and, for TLS 1.3, after the protected success indication (RFC 9190 §2.1.1).
      if (finalEap?.code !== EapCode.Success) throw new Error('Access-Accept without EAP-Success');
      if (peer?.complete !== true) throw new Error('EAP-Success before the TLS handshake completed');
      if (peer.socket.getProtocol() === 'TLSv1.3' && !peer.successIndication) {
        throw new Error('TLS 1.3 EAP-Success without the protected success indication');
      }
    } else if (reply.code !== PacketCode.AccessReject) {
      throw new Error(`unexpected final reply code ${reply.code}`);
    }
    const keys = accepted ? peer?.keyMaterial() : undefined;
    const resumed = peer?.complete === true && peer.socket.isSessionReused();
    return {
      outcome: accepted ? 'accept' : 'reject',
      reply,
      requestAuthenticator: exchange.requestAuthenticator,
      finalEap,
      rounds,
      exchanges: this.#exchanges,
      responses: this.#responses,
      challenges: this.#challenges,
      tlsVersion: this.#tlsVersion,
      handshakeComplete: peer?.complete === true,
      resumed,
      successIndication: peer?.successIndication === true,
      session: peer?.session ?? (resumed ? this.#options.session : undefined),
      tlsError: peer?.error,
      msk: keys?.msk,
      emsk: keys?.emsk,
      sessionId: keys?.sessionId,
    };
  }
}

/** The EAP-TLS Type-Data of an EAP-TLS Request or Response, decoded; throws if it does not decode. */
export function eapTlsData(eap: EapPacket): EapTlsData {
  if (eap.type !== EapType.Tls) throw new Error(`EAP type ${String(eap.type)} is not EAP-TLS`);
  const decoded = decodeEapTlsData(eap.data);
  if (!decoded.ok) throw new Error(`EAP-TLS data does not decode: ${decoded.reason}`);
  return decoded;
}

function decodeEapOrThrow(bytes: Buffer, what: string): EapPacket {
  const decoded = decodeEap(bytes);
  if (!decoded.ok) throw new Error(`${what}: EAP does not decode: ${decoded.reason}`);
  return decoded.packet;
}

/**
 * The 32-octet random of the ClientHello (type 1) or ServerHello (type 2) that opens a flight:
 * Record header (5), handshake type (1) and length (3), legacy version (2), random (32)
 * (RFC 5246 §7.4.1.2). Read independently of the server's own parser, as an oracle.
 */
function helloRandom(flight: Buffer, handshakeType: 1 | 2): Buffer | undefined {
  if (flight[0] !== TLS_CONTENT_HANDSHAKE || flight[TLS_RECORD_HEADER] !== handshakeType) return undefined;
  const start = TLS_RECORD_HEADER + 1 + 3 + 2;
  return flight.length >= start + 32 ? Buffer.from(flight.subarray(start, start + 32)) : undefined;
}
