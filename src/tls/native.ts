/**
 * The native EAP-TLS handshake (`native/tls_engine.c`, built by node-gyp into
 * `build/Release/portcullis_tls.node` on `npm install`): OpenSSL driven over memory BIOs, with
 * the OpenSSL library of the running Node. The handles are opaque; every call is synchronous.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** An SSL_CTX: the server certificate, the trust anchors and the handshake settings. */
export type NativeContext = { readonly __brand: 'NativeContext' };
/** One server-side SSL object and its two memory BIOs. */
export type NativeConversation = { readonly __brand: 'NativeConversation' };

/** What one delivery of peer records led to (`enum Status` in the C source). */
export const NativeStatus = { continue: 0, established: 1, failed: 2 } as const;
export type NativeStatus = (typeof NativeStatus)[keyof typeof NativeStatus];

/** The settings of {@link NativeTls.createContext}. */
export interface NativeContextOptions {
  /** PEM: the server certificate first, then its chain. */
  readonly certificateChain: Buffer;
  readonly privateKey: Buffer;
  readonly passphrase?: string | undefined;
  /** PEM buffers, each with one or more CA certificates (anchors and intermediates). */
  readonly authorities: readonly Buffer[];
  /** Protocol version numbers (0x0303 TLS 1.2, 0x0304 TLS 1.3). */
  readonly minVersion: number;
  readonly maxVersion: number;
  /** OpenSSL cipher list for TLS 1.2, and the TLS 1.3 cipher suites. */
  readonly cipherList: string;
  readonly cipherSuites: string;
  readonly sessionIdContext: string;
  /** Tickets (one per handshake) and the external TLS 1.2 session cache, or neither. */
  readonly resumption: boolean;
  readonly lifetimeSeconds: number;
  /** 80 bytes: key name, HMAC key, AES key (RFC 5077 §4); random per context when absent. */
  readonly ticketKeys?: Buffer | undefined;
}

/** The established session, as OpenSSL reports it. */
export interface NativeDescription {
  /** `TLSv1.2`, `TLSv1.3`. */
  readonly version: string;
  readonly resumed: boolean;
  /** Node's name of the X.509 verification error; absent when the peer's chain verified. */
  readonly verificationError?: string;
  /** OpenSSL's cipher name, and the IANA one. */
  readonly cipher: string;
  readonly standardName: string;
  /** DER of the peer certificate, when it sent one. */
  readonly peerCertificate?: Buffer;
}

/** The functions of the addon. */
export interface NativeTls {
  createContext(options: NativeContextOptions): NativeContext;
  open(context: NativeContext): NativeConversation;
  /** Offers the stored session for the ClientHello's session ID; call before receiving it. */
  offerSession(conversation: NativeConversation, session: Buffer): void;
  receive(conversation: NativeConversation, records: Buffer): NativeStatus;
  takeOutput(conversation: NativeConversation): Buffer;
  write(conversation: NativeConversation, data: Buffer): void;
  describe(conversation: NativeConversation): NativeDescription;
  /**
   * The chain OpenSSL built for the peer, leaf first, as DER; for a resumed session (which keeps
   * no built chain), the peer certificate and the chain it sent.
   */
  builtChain(conversation: NativeConversation): Buffer[];
  /** RFC 5705 exporter; no context at all (not an empty one) when `context` is undefined. */
  exportKeyingMaterial(conversation: NativeConversation, length: number, label: string, context?: Buffer): Buffer;
  serverTrafficSecret(conversation: NativeConversation): Buffer | undefined;
  /** ClientHello.random followed by ServerHello.random, 64 bytes. */
  randoms(conversation: NativeConversation): Buffer;
  session(conversation: NativeConversation): { readonly id: Buffer; readonly der: Buffer } | undefined;
  destroy(conversation: NativeConversation): void;
}

/** The addon, loaded once per thread (it is context-aware: every worker thread may load it). */
export const nativeTls: NativeTls = loadAddon();

function loadAddon(): NativeTls {
  // src/tls/ and dist/tls/ are both two levels below the package root, where build/ is.
  const path = fileURLToPath(new URL('../../build/Release/portcullis_tls.node', import.meta.url));
  try {
    return createRequire(import.meta.url)(path) as NativeTls;
  } catch (error) {
    throw new Error(
      `the native TLS engine is not built (${path}): run \`npm install\` (or \`npx node-gyp rebuild\`) with python3, make and a C compiler`,
      { cause: error },
    );
  }
}
