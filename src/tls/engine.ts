/**
 * The EAP-TLS TLS engine: OpenSSL's server handshake over memory buffers (`native.ts`).
 *
 * One context holds the server certificate, the trust anchors and the ticket keys, built once.
 * Each EAP-TLS conversation gets a {@link TlsConversation}: records from the peer in, records to
 * the peer out, every step synchronous. Client certificates are requested but never refused by
 * OpenSSL itself: the verdict is the policy's, and the engine reports OpenSSL's chain
 * verification result for it to use.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { fatalAlertRecord, type AlertDescription } from './alert.ts';
import { readClientHello } from './hello.ts';
import { deriveEapKeys, type EapKeyMaterial } from './key-material.ts';
import { NativeStatus, nativeTls, type NativeContext, type NativeConversation, type NativeDescription } from './native.ts';
import { chainFromLeaf } from './peer-chain.ts';
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
   * The session ticket keys, {@link TICKET_KEY_OCTETS} octets (RFC 5077 §4). Engines that share
   * them resume each other's tickets: every worker, and the engine after a reload. Random per
   * engine when absent.
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
  /**
   * Peer certificate first, then its issuers up to the anchor: the configured CA certificates
   * when they complete the chain, else the chain OpenSSL built (`peer-chain.ts`). Empty when the
   * peer sent no certificate.
   */
  readonly peerChain: readonly X509Certificate[];
  readonly cipher: string;
}

/** What one delivery of peer records produced. */
export type TlsProgress =
  | { readonly kind: 'continue'; readonly output: Buffer }
  | { readonly kind: 'established'; readonly result: HandshakeResult }
  | { readonly kind: 'failed'; readonly output: Buffer };

/** Session ticket keys as OpenSSL takes them: a 16-octet key name, a 32-octet HMAC key, a 32-octet AES key. */
export const TICKET_KEY_OCTETS = 80;

/** Protocol version numbers (RFC 8446 §4.2.1). */
const VERSION_NUMBER: Record<TlsVersion, number> = { 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 };

/** Node's default cipher preferences, split as OpenSSL takes them: TLS 1.3 suites, then the rest. */
const DEFAULT_CIPHERS = tls.DEFAULT_CIPHERS.split(':');
const CIPHER_SUITES = DEFAULT_CIPHERS.filter((name) => name.startsWith('TLS_')).join(':');
const CIPHER_LIST = DEFAULT_CIPHERS.filter((name) => !name.startsWith('TLS_')).join(':');

/** Builds the shared context once and opens conversations on it. */
export class TlsEngine {
  readonly #context: NativeContext;
  /** Where a successful TLS 1.2 session is saved, or undefined when resumption is off. */
  readonly #resumption: Resumption | undefined;
  readonly #issuers: readonly X509Certificate[];
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
    this.#context = nativeTls.createContext({
      certificateChain: settings.certificateChain,
      privateKey: settings.privateKey,
      passphrase: settings.privateKeyPassphrase,
      authorities: settings.caCertificates,
      minVersion: VERSION_NUMBER[settings.minVersion],
      maxVersion: VERSION_NUMBER[settings.maxVersion],
      cipherList: CIPHER_LIST,
      cipherSuites: CIPHER_SUITES,
      // A fixed context: tickets and sessions of this server are accepted by every engine built
      // from the same settings (RFC 5077 §4, RFC 8446 §4.6.1).
      sessionIdContext: 'portcullis-eap-tls',
      resumption: settings.resumption,
      lifetimeSeconds: settings.resumptionLifetimeSeconds,
      ticketKeys: settings.ticketKeys,
    });
  }

  /** Opens a conversation; call when the first EAP-TLS response (the ClientHello) arrives. */
  open(): TlsConversation {
    return new TlsConversation(nativeTls.open(this.#context), this.#resumption, this.#issuers, this.#offersTls13);
  }
}

/** One TLS handshake over EAP; records in, records out. */
export class TlsConversation {
  /** Undefined once destroyed. */
  #handle: NativeConversation | undefined;
  readonly #resumption: Resumption | undefined;
  readonly #issuers: readonly X509Certificate[];
  readonly #offersTls13: boolean;
  #helloSeen = false;
  #established: NativeDescription | undefined;

  /** @internal created by {@link TlsEngine.open}. */
  constructor(handle: NativeConversation, resumption: Resumption | undefined, issuers: readonly X509Certificate[], offersTls13: boolean) {
    this.#handle = handle;
    this.#resumption = resumption;
    this.#issuers = issuers;
    this.#offersTls13 = offersTls13;
  }

  /**
   * Makes a fully successful TLS 1.2 session resumable by its session ID; called only after the
   * policy accepted and the peer acknowledged the final flight (ARCHITECTURE habit 7). Resumed
   * sessions and TLS 1.3 (which resumes by ticket only) have nothing to save. A store failure
   * only costs the next resumption.
   */
  async saveForResumption(): Promise<void> {
    const handle = this.#handle;
    const established = this.#established;
    if (this.#resumption === undefined || handle === undefined || established === undefined) return;
    if (established.version !== 'TLSv1.2' || established.resumed) return;
    const session = nativeTls.session(handle);
    if (session === undefined) return;
    const { store, ttlSeconds } = this.#resumption;
    await store.set(storeKey(this.#resumption, session.id), session.der, ttlSeconds).catch(() => undefined);
  }

  /**
   * The record that refuses the peer after the handshake; everything held back is dropped.
   * TLS 1.3 peers get the alert protected with the server application traffic keys, as the
   * first record under them (RFC 8446 §5.2); TLS 1.2 peers, which have not yet received the
   * server's ChangeCipherSpec, get it in plaintext (RFC 5246 §7.2).
   */
  refusalRecord(description: AlertDescription): Buffer {
    const handle = this.#handle;
    if (handle === undefined) return fatalAlertRecord(description);
    nativeTls.takeOutput(handle);
    const secret = nativeTls.serverTrafficSecret(handle);
    if (this.#established?.version === 'TLSv1.3' && secret !== undefined) {
      const record = protectedAlertRecord(this.#established.standardName, secret, description);
      secret.fill(0);
      if (record !== undefined) return record;
    }
    return fatalAlertRecord(description);
  }

  /**
   * Delivers one reassembled flight from the peer. Output produced by the final handshake step
   * is held back (see {@link takeHeldOutput}) so that nothing completes the handshake for the
   * peer before the policy has decided.
   */
  async receive(records: Buffer): Promise<TlsProgress> {
    if (!this.#helloSeen) {
      this.#helloSeen = true;
      await this.#offerStoredSession(records);
    }
    const handle = this.#handle;
    // The conversation may have ended (timed out) while the session store answered.
    if (handle === undefined) return { kind: 'failed', output: Buffer.alloc(0) };
    const status = nativeTls.receive(handle, records);
    if (status === NativeStatus.established) {
      this.#established = nativeTls.describe(handle);
      return { kind: 'established', result: this.#describe(handle, this.#established) };
    }
    const output = nativeTls.takeOutput(handle);
    return status === NativeStatus.failed ? { kind: 'failed', output } : { kind: 'continue', output };
  }

  /** Takes the records the TLS stack wrote after the handshake completed (final flight, tickets). */
  takeHeldOutput(): Buffer {
    return this.#handle === undefined ? Buffer.alloc(0) : nativeTls.takeOutput(this.#handle);
  }

  /**
   * RFC 9190 §2.1.1: the TLS 1.3 protected success indication, one application-data byte 0x00.
   * Returns every record held back so far followed by it.
   */
  writeSuccessIndication(): Buffer {
    const handle = this.#handle;
    assert.ok(handle !== undefined && this.#established !== undefined, 'success indication before the handshake completed');
    nativeTls.write(handle, SUCCESS_INDICATION);
    return nativeTls.takeOutput(handle);
  }

  /** MSK, EMSK and Session-Id; undefined before the handshake completes. */
  keyMaterial(): EapKeyMaterial | undefined {
    const handle = this.#handle;
    const version = this.#established?.version;
    if (handle === undefined || (version !== 'TLSv1.2' && version !== 'TLSv1.3')) return undefined;
    return deriveEapKeys(
      (length, label, context) => nativeTls.exportKeyingMaterial(handle, length, label, context),
      version,
      () => nativeTls.randoms(handle),
    );
  }

  /** Releases the TLS state. Safe to call more than once. */
  destroy(): void {
    if (this.#handle !== undefined) nativeTls.destroy(this.#handle);
    this.#handle = undefined;
  }

  /**
   * RFC 5246 §7.4.1.2: a TLS 1.2 peer offers the session ID of an earlier session. The store
   * answers asynchronously, so the session is looked up before the ClientHello is delivered.
   * RFC 8446 §4.1.2: the session ID of a ClientHello that will negotiate TLS 1.3 is only for
   * middlebox compatibility, so it is not looked up. A store that fails only costs the
   * resumption: the handshake goes on in full.
   */
  async #offerStoredSession(records: Buffer): Promise<void> {
    if (this.#resumption === undefined) return;
    const hello = readClientHello(records);
    if (hello === undefined || hello.sessionId.length === 0 || (this.#offersTls13 && hello.offersTls13)) return;
    const session = await this.#resumption.store.get(storeKey(this.#resumption, hello.sessionId)).catch(() => undefined);
    if (session !== undefined && this.#handle !== undefined) nativeTls.offerSession(this.#handle, session);
  }

  #describe(handle: NativeConversation, established: NativeDescription): HandshakeResult {
    const version = established.version;
    assert.ok(version === 'TLSv1.2' || version === 'TLSv1.3', `unexpected protocol ${version}`);
    const built = (): X509Certificate[] => nativeTls.builtChain(handle).map((der) => new X509Certificate(der));
    return {
      version,
      resumed: established.resumed,
      chainVerified: established.verificationError === undefined,
      verificationError: established.verificationError,
      peerChain:
        established.peerCertificate === undefined ? [] : chainFromLeaf(new X509Certificate(established.peerCertificate), this.#issuers, built),
      cipher: established.cipher,
    };
  }
}

/** RFC 9190 §2.1.1: the one application-data byte that tells a TLS 1.3 peer the handshake succeeded. */
const SUCCESS_INDICATION = Buffer.from([0x00]);

/** Where and for how long successful TLS 1.2 sessions are kept. */
interface Resumption {
  readonly store: TlsSessionStore;
  readonly ttlSeconds: number;
  readonly namespace: string;
}

/** The session store key of a TLS 1.2 session ID: the engine's namespace, then the ID in hex. */
function storeKey(resumption: Resumption, sessionId: Buffer): string {
  return `${resumption.namespace}${sessionId.toString('hex')}`;
}
