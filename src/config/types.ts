/**
 * The validated configuration as the rest of portcullis sees it: camelCase, deep-readonly,
 * defaults applied, paths absolute, networks parsed, matchers compiled.
 *
 * `src/config/schema.ts` produces exactly these types: each object schema ends in a transform
 * annotated with the interface below, so the YAML schema and these types cannot drift apart.
 * See docs/configuration.md for the YAML (snake_case) side.
 */
import type { Cidr } from './cidr.ts';
import type { IdentityConfig, IdentityMatchConfig, RevocationConfig } from './types-checks.ts';

/** Log levels, most severe first (pino's names). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** TLS protocol versions portcullis speaks (Node's `minVersion` / `maxVersion` names). */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
/** One of {@link TLS_VERSIONS}. */
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/**
 * Certificate subject / issuer attribute short names a rule may match, as Node's
 * `X509Certificate.subject` and OpenSSL print them.
 */
export const SUBJECT_ATTRIBUTES = [
  'CN',
  'O',
  'OU',
  'C',
  'L',
  'ST',
  'street',
  'DC',
  'UID',
  'emailAddress',
  'serialNumber',
  'GN',
  'SN',
  'title',
] as const;
/** One of {@link SUBJECT_ATTRIBUTES}. */
export type SubjectAttribute = (typeof SUBJECT_ATTRIBUTES)[number];

/** One RADIUS authentication listener (UDP). */
export interface ListenConfig {
  /** IPv4 or IPv6 literal to bind. */
  readonly address: string;
  /** Address family of {@link ListenConfig.address}: pick `udp4` or `udp6`. */
  readonly family: 4 | 6;
  /** UDP port; 0 asks the OS for an ephemeral port (tests). */
  readonly port: number;
}

/** Logging. */
export interface LogConfig {
  /** Lowest level written. */
  readonly level: LogLevel;
  /** Human-readable lines instead of JSON (development only). */
  readonly pretty: boolean;
}

/** The TLS side of EAP-TLS. Every path is absolute; none has been read yet. */
export interface TlsConfig {
  /** PEM file: the server certificate first, then its chain. */
  readonly certificate: string;
  /** PEM file: the server's private key. */
  readonly privateKey: string;
  /** Passphrase of {@link TlsConfig.privateKey}, when it is encrypted. Secret. */
  readonly privateKeyPassphrase?: string;
  /** Lowest TLS version accepted. */
  readonly minVersion: TlsVersion;
  /** Highest TLS version offered; never below {@link TlsConfig.minVersion}. */
  readonly maxVersion: TlsVersion;
  /** PEM files (at least one, each may hold several certificates): client certificates must chain to one of these. */
  readonly trustAnchors: readonly string[];
  /** PEM files of extra intermediate CA certificates used to build client chains. */
  readonly intermediates: readonly string[];
  /** PEM or DER CRL files; a client certificate listed as revoked is rejected. */
  readonly crlFiles: readonly string[];
  /** When true, the client certificate must carry the extended key usage extension and it must contain clientAuth. */
  readonly requireClientAuthEku: boolean;
  /** Ceiling of TLS bytes per EAP-TLS fragment sent to the peer (the NAS's Framed-MTU may lower it). */
  readonly maxFragmentSize: number;
  /** Whether TLS session resumption is allowed (certificate and policy checks still run). */
  readonly resumption: boolean;
  /** How long a resumable session stays valid, in seconds. */
  readonly resumptionLifetimeSeconds: number;
}

/** Limits of the EAP authenticator. */
export interface EapConfig {
  /** An unfinished conversation idle this long (seconds) is discarded. */
  readonly idleTimeoutSeconds: number;
  /** RADIUS round trips allowed per conversation before it is rejected. */
  readonly maxRounds: number;
  /** Concurrent unfinished conversations, all clients together. */
  readonly maxSessions: number;
  /** Default concurrent unfinished conversations per NAS client. */
  readonly maxSessionsPerClient: number;
  /** Reassembly cap for one TLS flight from the peer, in bytes (RFC 5216 §3.2, the L field). */
  readonly maxTlsMessageBytes: number;
  /**
   * Worker threads the EAP conversations are spread over (every packet of a conversation goes
   * to the worker that holds its TLS state); 0 handles them on the main thread; `auto` starts
   * one per core beyond the first on three cores or more, none on one or two.
   */
  readonly workers: number | 'auto';
}

/**
 * One NAS client (access point, switch) allowed to send RADIUS requests. No network appears twice
 * in the configuration, but networks may nest (10.0.0.0/8 and 10.1.0.0/16): the server should pick
 * the client with the longest prefix that contains the source address.
 */
export interface ClientConfig {
  /** Unique name, `[A-Za-z0-9._-]+`: used in logs, metrics and rules. */
  readonly name: string;
  /** Source networks the NAS sends from (at least one; YAML `address`, one or a list). */
  readonly addresses: readonly Cidr[];
  /** RADIUS shared secret (RFC 2865 §3), at least 8 characters. Secret. */
  readonly secret: string;
  /** Whether Access-Requests must carry a valid Message-Authenticator (RFC 3579 §3.2). */
  readonly requireMessageAuthenticator: boolean;
  /** Concurrent unfinished conversations for this client (the client's override, else `eap.maxSessionsPerClient`). */
  readonly maxSessions: number;
}

/**
 * A compiled string matcher. Evaluation (in `src/policy/`) is case-sensitive unless the regex
 * has the `i` flag: `exact` is `===`, `prefix` is `startsWith`, `suffix` is `endsWith`,
 * `regex` is `regex.test(value)` (unanchored: write `^...$` to match the whole value).
 */
export type Matcher =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'suffix'; readonly value: string }
  | { readonly kind: 'regex'; readonly source: string; readonly flags: string; readonly regex: RegExp };

/** Alternatives: a condition holds when any matcher in the list matches. Never empty. */
export type MatcherList = readonly Matcher[];

/** Conditions on a certificate's subject or issuer distinguished name, by attribute. */
export type NameMatchConfig = { readonly [A in SubjectAttribute]?: MatcherList };

/**
 * The conditions of a rule. Every condition present must hold (AND); a rule without
 * conditions matches every request. Absent keys are absent (not undefined-valued).
 */
export interface MatchConfig {
  /** Client certificate subject attributes (each attribute listed must match). */
  readonly certSubject?: NameMatchConfig;
  /** Client certificate issuer attributes (each attribute listed must match). */
  readonly certIssuer?: NameMatchConfig;
  /** Client certificate serial numbers (any of), normalised by {@link normalizeSerial}. */
  readonly certSerial?: readonly string[];
  /** rfc822Name subject alternative names of the client certificate. */
  readonly sanEmail?: MatcherList;
  /** dNSName subject alternative names of the client certificate. */
  readonly sanDns?: MatcherList;
  /** uniformResourceIdentifier subject alternative names of the client certificate. */
  readonly sanUri?: MatcherList;
  /** Microsoft UPN (otherName 1.3.6.1.4.1.311.20.2.3) subject alternative names. */
  readonly sanUpn?: MatcherList;
  /** The EAP-Response/Identity the peer sent (RFC 3748 §5.1). */
  readonly eapIdentity?: MatcherList;
  /** Names of NAS clients (any of); each names an entry of {@link Config.clients}. */
  readonly client?: readonly string[];
  /** NAS-Identifier attribute (RFC 2865 §5.32). */
  readonly nasIdentifier?: MatcherList;
  /** Called-Station-Id attribute (RFC 2865 §5.30), whole. */
  readonly calledStationId?: MatcherList;
  /** The SSID: the part of Called-Station-Id after the first ':' (RFC 3580 §3.20). */
  readonly ssid?: MatcherList;
  /** The identity provider's answer: status and group membership. */
  readonly identity?: IdentityMatchConfig;
}

/** Extra attributes of an Access-Accept. */
export interface ReplyConfig {
  /** Session-Timeout (RFC 2865 §5.27), seconds, 1..2^31-1. */
  readonly sessionTimeout?: number;
  /** Reply-Message (RFC 2865 §5.18), at most 253 bytes of UTF-8. */
  readonly replyMessage?: string;
  /** Filter-Id (RFC 2865 §5.11), at most 253 bytes of UTF-8. */
  readonly filterId?: string;
}

/** Accept, with the optional VLAN and reply attributes. */
export interface AcceptDecisionConfig {
  readonly action: 'accept';
  /**
   * Tunnel-Private-Group-Id (RFC 3580 §3.31, RFC 2868 §3.6): a VLAN id 1..4094 as decimal text,
   * or a VLAN name. Absent: no VLAN attributes.
   */
  readonly vlan?: string;
  /** Extra reply attributes (empty object when none). */
  readonly reply: ReplyConfig;
}

/** Reject, with a machine-readable reason (`[a-z0-9-]+`) for logs and Reply-Message. */
export interface RejectDecisionConfig {
  readonly action: 'reject';
  readonly reason: string;
}

/** What happens to a request a rule (or the default) applies to. */
export type DecisionConfig = AcceptDecisionConfig | RejectDecisionConfig;

/** One policy rule; the first rule whose conditions all hold decides. */
export interface RuleConfig {
  /** Unique name, for logs. */
  readonly name: string;
  /** Conditions, all of which must hold. */
  readonly match: MatchConfig;
  /** The outcome when they do. */
  readonly decision: DecisionConfig;
}

/** The access policy, applied after the certificate chain, revocation and EKU checks pass. */
export interface PolicyConfig {
  /** Ordered rules; the first match wins. */
  readonly rules: readonly RuleConfig[];
  /** The outcome when no rule matches. */
  readonly default: DecisionConfig;
}

/** The operations HTTP listener: `/metrics`, `/healthz`, `/readyz` and `POST /reload`. */
export interface HttpConfig {
  /** Whether the listener runs at all. */
  readonly enabled: boolean;
  /** IPv4 or IPv6 literal to bind; loopback by default. */
  readonly address: string;
  /** TCP port; 0 asks the OS for an ephemeral port (tests). */
  readonly port: number;
}

/** How the server is watched, reloaded and stopped. */
export interface OperationsConfig {
  readonly http: HttpConfig;
  /** A configured certificate that expires within this many days is logged as a warning, at start-up and daily. */
  readonly expiryWarningDays: number;
  /** A CRL whose nextUpdate is within this many hours (or past) is logged as a warning (CRLs are reissued often). */
  readonly crlWarningHours: number;
  /** On SIGTERM, how long unfinished EAP conversations may take before the process exits. */
  readonly drainSeconds: number;
}

/**
 * RADIUS accounting over UDP (RFC 2866). With no listener, accounting is off: nothing is bound
 * and no sink is opened.
 */
export interface AccountingConfig {
  /** UDP accounting listeners (default port 1813, RFC 2866 "Implementation Note"); may be empty. */
  readonly listen: readonly ListenConfig[];
  /** Absolute path of the JSON-lines file every stored record is appended to; undefined: none. */
  readonly sink: string | undefined;
  /** An active session with no Interim-Update nor Stop for this long (seconds) leaves the table. */
  readonly sessionTtlSeconds: number;
}

/** One allowed RadSec peer (RFC 6614 §2.3): its certificate must match one of the lists. */
export interface RadsecPeerConfig {
  /** Unique among peers and clients: the client name in logs, metrics and rules. */
  readonly name: string;
  /** The RADIUS shared secret over TLS; "radsec" unless configured (RFC 6614 §2.3). Secret. */
  readonly secret: string;
  /** Connections this peer may hold open at once. */
  readonly maxConnections: number;
  /** dNSName SANs (any case). */
  readonly sanDns: readonly string[];
  /** iPAddress SANs, as IP literals. */
  readonly sanIp: readonly string[];
  /** Subject common names. */
  readonly subjectCn: readonly string[];
  /** NAIRealm SANs (RFC 7585 §2.2, any case). */
  readonly naiRealm: readonly string[];
}

/** RADIUS over TLS (RFC 6614). Every path is absolute; none has been read yet. */
export interface RadsecConfig {
  /** TCP listeners (default port 2083); empty: RadSec is off. */
  readonly listen: readonly ListenConfig[];
  /** PEM server certificate chain for RadSec; undefined: `tls.certificate`. */
  readonly certificate: string | undefined;
  /** PEM private key; undefined: `tls.privateKey`. */
  readonly privateKey: string | undefined;
  /** Passphrase of the private key. Secret. */
  readonly privateKeyPassphrase?: string;
  /** PEM files of the CAs peer certificates must chain to. */
  readonly trustAnchors: readonly string[];
  /** CRLs for peer certificates; a revoked peer is refused, and its connections closed on reload. */
  readonly crlFiles: readonly string[];
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** A connection without traffic for this long (seconds) is closed. */
  readonly idleTimeoutSeconds: number;
  readonly peers: readonly RadsecPeerConfig[];
}

/** The whole validated configuration: deep-frozen. */
export interface Config {
  /** RADIUS authentication listeners (UDP), at least one. */
  readonly listen: readonly ListenConfig[];
  readonly log: LogConfig;
  readonly tls: TlsConfig;
  readonly eap: EapConfig;
  /** NAS clients, at least one, names unique. */
  readonly clients: readonly ClientConfig[];
  readonly policy: PolicyConfig;
  readonly operations: OperationsConfig;
  readonly accounting: AccountingConfig;
  readonly radsec: RadsecConfig;
  /** Live revocation checks (CRLs from URLs, OCSP) per trust anchor. */
  readonly revocation: RevocationConfig;
  /** Identity providers and how certificates map to their users and devices. */
  readonly identity: IdentityConfig;
  /**
   * Things that are allowed but unwise (short secrets, Message-Authenticator not required, a
   * client open to every address): the server logs each at start-up. Never contains a secret.
   */
  readonly warnings: readonly string[];
}

/**
 * Normalises a certificate serial number written in hex: colons and spaces removed, upper case,
 * leading zeros dropped (`"00:0a:1B"` -> `"A1B"`, `"00"` -> `"0"`). Returns undefined when the text
 * is not hex. Apply the same function to Node's `X509Certificate.serialNumber` before comparing.
 */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) return undefined;
  return hex.replace(/^0+(?=.)/, '');
}
