/**
 * The EAP-TLS TLS engine: `node:tls` driven over an in-memory transport.
 *
 * One `tls.Server` that never listens holds the secure context, built once. Each EAP-TLS
 * conversation gets a {@link TlsConversation} whose records travel through a {@link RecordPipe}.
 * Client certificates are requested but never refused by OpenSSL itself
 * (`rejectUnauthorized: false`): the verdict is the policy's, and the engine reports OpenSSL's
 * chain verification result for it to use.
 */
import assert from 'node:assert/strict';
import { X509Certificate, constants as cryptoConstants } from 'node:crypto';
import tls from 'node:tls';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fatalAlertRecord, type AlertDescription } from './alert.ts';
import { HelloType, readHello, type HelloFields } from './hello.ts';
import { deriveEapKeys, type EapKeyMaterial } from './key-material.ts';
import { RecordPipe } from './record-pipe.ts';
import { protectedAlertRecord } from './tls13-alert.ts';
import type { TlsSessionStore } from '../store/ports.ts';

/** TLS protocol versions EAP-TLS runs over (RFC 5216, RFC 9190). */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** Everything the engine needs, read from files by the caller. */
export interface TlsEngineSettings {
  /** PEM: the server certificate first, then its chain. */
  readonly certificateChain: Buffer;
  /** PEM private key of the server certificate. */
  readonly privateKey: Buffer;
  readonly privateKeyPassphrase?: string | undefined;
  /** PEM trust anchors and intermediates for client certificate path building. */
  readonly caCertificates: readonly Buffer[];
  /** The same certificates parsed, to name a peer's issuers without parsing them again per handshake. */
  readonly issuers: readonly X509Certificate[];
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** Let returning peers resume, by ticket or session ID (the checks re-run on resumption). */
  readonly resumption: boolean;
  readonly resumptionLifetimeSeconds: number;
  /**
   * The 48-octet session ticket keys (RFC 5077 §4). Engines that share them resume each other's
   * tickets: every worker, and the engine after a reload. Random per engine when absent.
   */
  readonly ticketKeys?: Buffer | undefined;
  /**
   * Where TLS 1.2 sessions are kept for session-ID resumption (RFC 5246 §7.3). Without one,
   * TLS 1.2 peers resume by ticket only.
   */
  readonly sessionStore?: TlsSessionStore | undefined;
  /**
   * Prefix of this engine's keys in the session store. A resumed session keeps the chain
   * verification result of its first handshake, so engines with other trust anchors must not
   * share sessions: the composition root derives the namespace from them.
   */
  readonly sessionNamespace?: string | undefined;
}

/** What the handshake established, for the policy to judge. */
export interface HandshakeResult {
  readonly version: TlsVersion;
  readonly resumed: boolean;
  /** OpenSSL verified the peer chain to a configured CA (dates included). */
  readonly chainVerified: boolean;
  /** OpenSSL's verification error code when not verified (e.g. `CERT_HAS_EXPIRED`). */
  readonly verificationError: string | undefined;
  /** Peer certificate first, then the issuers OpenSSL found, up to the anchor. Empty when none. */
  readonly peerChain: readonly X509Certificate[];
  readonly cipher: string;
}

/** What one delivery of peer records produced. */
export type TlsProgress =
  | { readonly kind: 'continue'; readonly output: Buffer }
  | { readonly kind: 'established'; readonly result: HandshakeResult }
  | { readonly kind: 'failed'; readonly output: Buffer };

/** Builds the shared secure context once and opens conversations on it. */
export class TlsEngine {
  readonly #server: tls.Server;
  /** Where a successful TLS 1.2 session is saved, or undefined when resumption is off. */
  readonly #resumption: Resumption | undefined;
  /** Conversations whose ClientHello was delivered but whose TLS socket is not known yet, by client random (hex). */
  readonly #awaitingSocket = new Map<string, TlsConversation>();
  /** Conversations by their TLS socket, learnt from the first key log line of the handshake. */
  readonly #bySocket = new WeakMap<TLSSocket, TlsConversation>();
  /** The conversation whose records are being delivered (Node often completes handshakes inside). */
  #delivering: TlsConversation | undefined;
  readonly #issuers: readonly X509Certificate[];
  /** Session store lookups that suspended a handshake (the store may answer from another thread). */
  readonly #lookups = new Set<Promise<void>>();
  /** Session IDs of ClientHellos that will negotiate TLS 1.3 (hex): nothing to look up for them. */
  readonly #tls13SessionIds = new Set<string>();
  readonly #offersTls13: boolean;

  constructor(settings: TlsEngineSettings) {
    assert.ok(settings.caCertificates.length > 0, 'at least one CA certificate');
    this.#issuers = settings.issuers;
    this.#offersTls13 = settings.maxVersion === 'TLSv1.3';
    const store = settings.sessionStore;
    this.#resumption =
      settings.resumption && store !== undefined
        ? { store, ttlSeconds: settings.resumptionLifetimeSeconds, namespace: settings.sessionNamespace ?? '' }
        : undefined;
    this.#server = tls.createServer({
      cert: settings.certificateChain,
      key: settings.privateKey,
      passphrase: settings.privateKeyPassphrase,
      ca: [...settings.caCertificates],
      minVersion: settings.minVersion,
      maxVersion: settings.maxVersion,
      requestCert: true,
      rejectUnauthorized: false,
      // A fixed context: tickets from an earlier handshake of this server are accepted
      // (otherwise OpenSSL fails resumption with SESSION_ID_CONTEXT_UNINITIALIZED).
      sessionIdContext: 'portcullis-eap-tls',
      sessionTimeout: settings.resumptionLifetimeSeconds,
      secureOptions: settings.resumption ? 0 : cryptoConstants.SSL_OP_NO_TICKET,
      ...(settings.ticketKeys === undefined ? {} : { ticketKeys: settings.ticketKeys }),
    });
    // Node does not say which transport a TLS socket wraps. Every key log line names the
    // ClientHello random, which the conversation read from the records it delivered: that binds
    // socket and conversation. The traffic secrets also protect a TLS 1.3 refusal (tls13-alert.ts).
    this.#server.on('keylog', (line: Buffer, socket: TLSSocket) => {
      const [label = '', clientRandom = '', secret = ''] = line.toString('latin1').trim().split(' ');
      let conversation = this.#bySocket.get(socket);
      if (conversation === undefined) {
        conversation = this.#awaitingSocket.get(clientRandom.toLowerCase());
        this.#awaitingSocket.delete(clientRandom.toLowerCase());
        if (conversation === undefined) return void socket.destroy();
        this.#bySocket.set(socket, conversation);
      }
      conversation.keylog(label, secret);
    });
    this.#server.on('secureConnection', (socket: TLSSocket) => {
      // An orphaned handshake is failed, never trusted.
      const conversation = this.#bySocket.get(socket) ?? this.#delivering;
      if (conversation === undefined) socket.destroy();
      else conversation.established(socket);
    });
    if (this.#resumption !== undefined) {
      const { store: sessions, namespace } = this.#resumption;
      // RFC 5246 §7.4.1.2: a TLS 1.2 peer offers the session ID of an earlier session. A store
      // that fails only costs the resumption: the handshake goes on in full.
      // The handshake waits for the answer, and conversations wait for the lookups (settle).
      this.#server.on('resumeSession', (id: Buffer, callback: (error: null, session: Buffer | null) => void) => {
        // RFC 8446 §4.1.2: a TLS 1.3 ClientHello's session ID is only for middlebox compatibility.
        if (this.#tls13SessionIds.delete(id.toString('hex'))) return void callback(null, null);
        const lookup: Promise<void> = sessions
          .get(`${namespace}${id.toString('hex')}`)
          .then(
            (session) => callback(null, session ?? null),
            () => callback(null, null),
          )
          .finally(() => this.#lookups.delete(lookup));
        this.#lookups.add(lookup);
      });
    }
    // Handshake errors surface as a closed RecordPipe; the event only needs a listener.
    this.#server.on('tlsClientError', () => {});
  }

  /** Opens a conversation; call when the first EAP-TLS response (the ClientHello) arrives. */
  open(): TlsConversation {
    const pipe = new RecordPipe();
    const conversation: TlsConversation = new TlsConversation(pipe, this.#resumption, this.#issuers, {
      deliver: (deliver) => {
        this.#delivering = conversation;
        try {
          deliver();
        } finally {
          this.#delivering = undefined;
        }
      },
      expect: (hello) => {
        if (this.#offersTls13 && hello.offersTls13 && hello.sessionId.length > 0) this.#tls13SessionIds.add(hello.sessionId.toString('hex'));
        const key = hello.random.toString('hex');
        // A ClientHello random is fresh per handshake (RFC 8446 §4.1.2); a copy of one that is in
        // use is a replay and must not be bound to the other conversation's socket.
        if (this.#awaitingSocket.has(key)) return false;
        this.#awaitingSocket.set(key, conversation);
        return true;
      },
      lookups: () => (this.#lookups.size === 0 ? undefined : Promise.all(this.#lookups).then(() => undefined)),
      forget: (hello) => {
        this.#tls13SessionIds.delete(hello.sessionId.toString('hex'));
        const key = hello.random.toString('hex');
        if (this.#awaitingSocket.get(key) === conversation) this.#awaitingSocket.delete(key);
      },
    });
    this.#server.emit('connection', pipe);
    return conversation;
  }
}

/** One TLS handshake over EAP; records in, records out. */
export class TlsConversation {
  readonly #pipe: RecordPipe;
  readonly #resumption: Resumption | undefined;
  readonly #engine: EngineHooks;
  readonly #issuers: readonly X509Certificate[];
  #socket: TLSSocket | undefined;
  #serverTrafficSecret: Buffer | undefined;
  #clientHello: HelloFields | undefined;
  #serverHello: HelloFields | undefined;

  /** @internal created by {@link TlsEngine.open}. */
  constructor(pipe: RecordPipe, resumption: Resumption | undefined, issuers: readonly X509Certificate[], engine: EngineHooks) {
    this.#pipe = pipe;
    this.#resumption = resumption;
    this.#issuers = issuers;
    this.#engine = engine;
  }

  /**
   * Makes a fully successful TLS 1.2 session resumable by its session ID; called only after the
   * policy accepted and the peer acknowledged the final flight (ARCHITECTURE habit 7). Resumed
   * sessions and TLS 1.3 (which resumes by ticket only) have nothing to save. A store failure
   * only costs the next resumption.
   */
  async saveForResumption(): Promise<void> {
    const socket = this.#socket;
    const sessionId = this.#serverHello?.sessionId;
    if (this.#resumption === undefined || socket === undefined || sessionId === undefined || sessionId.length === 0) return;
    if (socket.getProtocol() !== 'TLSv1.2' || socket.isSessionReused()) return;
    const session = socket.getSession();
    if (session === undefined) return;
    const { store, namespace, ttlSeconds } = this.#resumption;
    await store.set(`${namespace}${sessionId.toString('hex')}`, session, ttlSeconds).catch(() => undefined);
  }

  /** @internal called by the engine with each key log line of this handshake. */
  keylog(label: string, secretHex: string): void {
    if (label === 'SERVER_TRAFFIC_SECRET_0') this.#serverTrafficSecret = Buffer.from(secretHex, 'hex');
  }

  /**
   * The record that refuses the peer after the handshake; everything held back is dropped.
   * TLS 1.3 peers get the alert protected with the server application traffic keys, as the
   * first record under them (RFC 8446 §5.2); TLS 1.2 peers, which have not yet received the
   * server's ChangeCipherSpec, get it in plaintext (RFC 5246 §7.2).
   */
  refusalRecord(description: AlertDescription): Buffer {
    this.#pipe.takeOutput();
    const socket = this.#socket;
    if (socket?.getProtocol() === 'TLSv1.3' && this.#serverTrafficSecret !== undefined) {
      const record = protectedAlertRecord(socket.getCipher().standardName, this.#serverTrafficSecret, description);
      if (record !== undefined) return record;
    }
    return fatalAlertRecord(description);
  }

  /** @internal called by the engine when the handshake completes during a delivery. */
  established(socket: TLSSocket): void {
    this.#socket = socket;
    socket.on('error', () => {
      // After the handshake an error means the peer broke the protocol; the pipe reports it closed.
    });
  }

  /**
   * Delivers one reassembled flight from the peer and waits until the TLS stack is quiet.
   * Output produced by the final handshake step is held back (see {@link takeHeldOutput}) so
   * that nothing completes the handshake for the peer before the policy has decided.
   */
  async receive(records: Buffer): Promise<TlsProgress> {
    if (this.#clientHello === undefined) {
      this.#clientHello = readHello(records, HelloType.ClientHello);
      if (this.#clientHello !== undefined && !this.#engine.expect(this.#clientHello)) return { kind: 'failed', output: Buffer.alloc(0) };
    }
    this.#engine.deliver(() => this.#pipe.deliver(records));
    await this.#settle();
    if (this.#socket !== undefined) {
      return { kind: 'established', result: this.#describe(this.#socket) };
    }
    const output = this.#pipe.takeOutput();
    this.#serverHello ??= readHello(output, HelloType.ServerHello);
    if (this.#pipe.ended) return { kind: 'failed', output };
    return { kind: 'continue', output };
  }

  /** Takes the records the TLS stack wrote after the handshake completed (final flight, tickets). */
  takeHeldOutput(): Buffer {
    return this.#pipe.takeOutput();
  }

  /**
   * RFC 9190 §2.1.1: the TLS 1.3 protected success indication, one application-data byte 0x00.
   * Returns every record held back so far followed by it.
   */
  async writeSuccessIndication(): Promise<Buffer> {
    const socket = this.#socket;
    assert.ok(socket !== undefined, 'success indication before the handshake completed');
    socket.write(Buffer.from([0x00]));
    await this.#settle();
    return this.#pipe.takeOutput();
  }

  /** MSK, EMSK and Session-Id; undefined before the handshake completes. */
  keyMaterial(): EapKeyMaterial | undefined {
    const socket = this.#socket;
    if (socket === undefined) return undefined;
    const version = socket.getProtocol();
    if (version !== 'TLSv1.2' && version !== 'TLSv1.3') return undefined;
    const randoms =
      this.#clientHello !== undefined && this.#serverHello !== undefined
        ? { client: this.#clientHello.random, server: this.#serverHello.random }
        : undefined;
    return deriveEapKeys(socket, version, randoms);
  }

  /** Releases the TLS state. */
  destroy(): void {
    if (this.#clientHello !== undefined) this.#engine.forget(this.#clientHello);
    this.#serverTrafficSecret?.fill(0);
    this.#socket?.destroy();
    this.#pipe.destroy();
  }

  /**
   * Application data is written by the TLS stack one or two turns after the call, and a
   * handshake that asked the session store goes on once it answers: wait both out.
   */
  async #settle(): Promise<void> {
    let before = -1;
    for (;;) {
      const lookups = this.#engine.lookups();
      if (lookups !== undefined) {
        await lookups;
        before = -1;
      }
      if (before === this.#pipe.pendingBytes) return;
      before = this.#pipe.pendingBytes;
      await nextTurn();
      await nextTurn();
    }
  }

  #describe(socket: TLSSocket): HandshakeResult {
    const version = socket.getProtocol();
    assert.ok(version === 'TLSv1.2' || version === 'TLSv1.3', `unexpected protocol ${String(version)}`);
    const authorizationError = socket.authorizationError as unknown;
    return {
      version,
      resumed: socket.isSessionReused(),
      chainVerified: socket.authorized,
      verificationError:
        authorizationError === undefined || authorizationError === null ? undefined : String(authorizationError),
      peerChain: peerChain(socket, this.#issuers),
      cipher: socket.getCipher().name,
    };
  }
}

/** Where and for how long successful TLS 1.2 sessions are kept. */
interface Resumption {
  readonly store: TlsSessionStore;
  readonly ttlSeconds: number;
  readonly namespace: string;
}

/** What a conversation asks of its engine. */
interface EngineHooks {
  /** Runs a delivery of peer records, marking the conversation as the one being fed. */
  deliver(deliver: () => void): void;
  /** Announces the ClientHello (its random binds the TLS socket); false for a duplicate random. */
  expect(hello: HelloFields): boolean;
  /** Drops the announcement when the conversation ends before its socket was bound. */
  forget(hello: HelloFields): void;
  /** Settles once the session store lookups now pending have been answered; undefined when none are. */
  lookups(): Promise<void> | undefined;
}

/**
 * The peer certificate, then its issuers up to a self-signed one. The issuers come from `known`
 * (the configured CA certificates, parsed once) whenever they complete the chain: asking OpenSSL
 * for the detailed chain builds and parses every certificate again, about 0.7 ms per handshake.
 * When `known` does not complete it (the peer sent an intermediate we do not hold), the chain
 * OpenSSL attached is used.
 */
export function peerChain(socket: TLSSocket, known: readonly X509Certificate[] = []): X509Certificate[] {
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return [];
  const chain = [leaf];
  for (let current = leaf; !current.checkIssued(current); ) {
    const issuer = issuerAmong(current, known);
    if (issuer === undefined) return attachedPeerChain(socket);
    if (chain.includes(issuer)) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/**
 * The certificate of `known` that issued `subject`: names and key identifiers match
 * (`checkIssued`), and when several do, the one whose key verifies the signature.
 */
function issuerAmong(subject: X509Certificate, known: readonly X509Certificate[]): X509Certificate | undefined {
  const candidates = known.filter((candidate) => subject.checkIssued(candidate));
  if (candidates.length <= 1) return candidates[0];
  return candidates.find((candidate) => subject.verify(candidate.publicKey));
}

/** The peer certificate and the issuers OpenSSL attached, stopping at a self-signed one. */
function attachedPeerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let entry: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (entry !== undefined && entry.raw !== undefined && !seen.has(entry.fingerprint256)) {
    seen.add(entry.fingerprint256);
    chain.push(new X509Certificate(entry.raw));
    entry = entry.issuerCertificate;
  }
  return chain;
}
