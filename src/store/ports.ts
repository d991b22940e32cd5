/**
 * Ports for state that outlives one request. Adapters: in memory (the default) and, later,
 * Redis; every entry has an explicit time to live (ARCHITECTURE habit 9).
 */

/** Resumable TLS sessions by session ID (RFC 5246 §7.4.1.2), written only after a full success. */
export interface TlsSessionStore {
  /** The serialized session, or undefined when unknown or expired. */
  get(sessionId: string): Promise<Buffer | undefined>;
  /** Stores a serialized session for `ttlSeconds`. */
  set(sessionId: string, session: Buffer, ttlSeconds: number): Promise<void>;
}

/**
 * What an Accounting-Request reports, by its Acct-Status-Type (RFC 2866 §5.1): a closed set,
 * used as a metric label. `other` is any further value (tunnel and failed records, RFC 2867 §4.1
 * and RFC 2866 §5.1 value 15): stored, but no session changes.
 */
export type AccountingStatus = 'start' | 'stop' | 'interim-update' | 'accounting-on' | 'accounting-off' | 'other';

/** One Accounting-Request as stored: what the NAS reported, nothing secret. Times in Unix ms. */
export interface AccountingRecord {
  /** When the server received the request. */
  readonly receivedAt: number;
  /**
   * When the event happened: Event-Timestamp when sent (RFC 2869 §5.3), else the arrival time
   * less Acct-Delay-Time (RFC 2866 §5.2).
   */
  readonly eventAt: number;
  /** The configured name of the NAS client that sent it. */
  readonly client: string;
  readonly status: AccountingStatus;
  /** The Acct-Status-Type value as sent (RFC 2866 §5.1). */
  readonly statusType: number;
  /** Acct-Session-Id (RFC 2866 §5.5); absent only from Accounting-On and -Off. */
  readonly sessionId: string | undefined;
  /** User-Name (RFC 2865 §5.1). */
  readonly userName: string | undefined;
  /** Calling-Station-Id (RFC 2865 §5.31): for 802.1X the supplicant's MAC address. */
  readonly callingStationId: string | undefined;
  /** Called-Station-Id (RFC 2865 §5.30): for 802.1X the NAS's MAC address and SSID. */
  readonly calledStationId: string | undefined;
  /** NAS-IP-Address (RFC 2865 §5.4), or NAS-IPv6-Address (RFC 3162 §2.1), as text. */
  readonly nasIpAddress: string | undefined;
  /** NAS-Identifier (RFC 2865 §5.32). */
  readonly nasIdentifier: string | undefined;
  /** NAS-Port (RFC 2865 §5.5). */
  readonly nasPort: number | undefined;
  /** Acct-Session-Time in seconds (RFC 2866 §5.7). */
  readonly sessionTime: number | undefined;
  /** Acct-Input-Octets with Acct-Input-Gigawords as the high 32 bits (RFC 2866 §5.3, RFC 2869 §5.1). */
  readonly inputOctets: number | undefined;
  /** Acct-Output-Octets with Acct-Output-Gigawords as the high 32 bits (RFC 2866 §5.4, RFC 2869 §5.2). */
  readonly outputOctets: number | undefined;
  /** Acct-Input-Packets (RFC 2866 §5.8). */
  readonly inputPackets: number | undefined;
  /** Acct-Output-Packets (RFC 2866 §5.9). */
  readonly outputPackets: number | undefined;
  /** Acct-Terminate-Cause (RFC 2866 §5.10), on a Stop. */
  readonly terminateCause: number | undefined;
}

/**
 * One session a NAS reported started and has not reported stopped. Times in Unix ms. A field no
 * record of the session carried is absent; each holds the latest value reported.
 */
export interface ActiveSession {
  /** The NAS client name; with {@link ActiveSession.sessionId}, the key of the session. */
  readonly client: string;
  readonly sessionId: string;
  readonly nasIpAddress?: string;
  readonly nasIdentifier?: string;
  readonly nasPort?: number;
  readonly userName?: string;
  readonly callingStationId?: string;
  readonly calledStationId?: string;
  /**
   * Serial of the client certificate that authenticated the session. Not filled yet: accounting
   * carries no certificate, and linking it to the access decision is a later feature.
   */
  readonly certificateSerial?: string;
  /** When the session started: the Start's event time, or for a session first seen in an Interim-Update, that time less Acct-Session-Time. */
  readonly startedAt: number;
  /** Acct-Session-Time, in seconds. */
  readonly sessionTime?: number;
  /** Octet counters with Gigawords folded in, as in {@link AccountingRecord}. */
  readonly inputOctets?: number;
  readonly outputOctets?: number;
  readonly inputPackets?: number;
  readonly outputPackets?: number;
  /** When the last record of the session arrived. */
  readonly lastUpdateAt: number;
}

/** Which active sessions to list; every field given must match exactly. */
export interface ActiveSessionFilter {
  /** The NAS: its client name, NAS-IP-Address or NAS-Identifier. */
  readonly nas?: string;
  readonly userName?: string;
  readonly callingStationId?: string;
}

/**
 * The accounting session table (RFC 2866): Start inserts a session, Interim-Update refreshes it
 * (inserting one the server has not seen), Stop removes it, Accounting-On and -Off remove every
 * session of that NAS. A session without news for the configured TTL is dropped.
 */
export interface AccountingStore {
  /** Applies one record; resolves once it is stored. Applying the same record twice changes nothing more. */
  record(record: AccountingRecord): Promise<void>;
  /** The active sessions matching `filter` (all without one), oldest start first. */
  activeSessions(filter?: ActiveSessionFilter): Promise<ActiveSession[]>;
}

/** An append-only log of accounting records (the JSON-lines file). */
export interface AccountingSink {
  /** Appends one record; resolves once it is written to the file (not necessarily synced to disk). */
  write(record: AccountingRecord): Promise<void>;
  /** Writes what is pending, then closes; later writes reject. */
  close(): Promise<void>;
}
