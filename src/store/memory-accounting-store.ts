/**
 * The in-memory {@link AccountingStore}: active sessions keyed by NAS client name and
 * Acct-Session-Id (RFC 2866 §5.5: the id is unique per NAS, and Start, Interim-Update and Stop of
 * one session carry the same one). Sessions without news for the TTL are swept out coarsely, at
 * most once a minute and only while records arrive; queries never show them. Past the size cap
 * the session updated least recently makes room.
 */
import type { AccountingRecord, AccountingStore, ActiveSession, ActiveSessionFilter } from './ports.ts';

/** What a record reports about its session; a record that leaves a field out keeps the earlier value. */
const SESSION_FIELDS = [
  'nasIpAddress',
  'nasIdentifier',
  'nasPort',
  'userName',
  'callingStationId',
  'calledStationId',
  'sessionTime',
  'inputOctets',
  'outputOctets',
  'inputPackets',
  'outputPackets',
] as const satisfies readonly (keyof AccountingRecord & keyof ActiveSession)[];

/** How often, at most, expired sessions are swept (habit 11: coarse timers for expiry). */
const SWEEP_INTERVAL_MS = 60_000;
/** Sessions held at most by default: about 0.5 KB each. */
const DEFAULT_MAX_SESSIONS = 1_000_000;

/** Options of {@link MemoryAccountingStore}. */
export interface MemoryAccountingStoreOptions {
  /** A session with no record for this long is dropped (`accounting.session_ttl_seconds`). */
  readonly ttlSeconds: number;
  /** Sessions held at most; the least recently updated one makes room. */
  readonly maxSessions?: number;
  readonly now?: () => number;
}

/** In-process accounting sessions. */
export class MemoryAccountingStore implements AccountingStore {
  /** Insertion order is update order: every update re-inserts, so the first key is the stalest. */
  readonly #sessions = new Map<string, ActiveSession>();
  readonly #ttlMs: number;
  readonly #maxSessions: number;
  readonly #now: () => number;
  #nextSweep = 0;

  constructor(options: MemoryAccountingStoreOptions) {
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#now = options.now ?? Date.now;
  }

  /** Sessions held now, expired ones included until the next sweep. */
  get size(): number {
    return this.#sessions.size;
  }

  async record(record: AccountingRecord): Promise<void> {
    this.#sweepIfDue();
    switch (record.status) {
      case 'start':
      case 'interim-update':
        if (record.sessionId !== undefined) this.#upsert(record, record.sessionId);
        return;
      case 'stop':
        if (record.sessionId !== undefined) this.#sessions.delete(sessionKey(record.client, record.sessionId));
        return;
      case 'accounting-on':
      case 'accounting-off':
        this.#removeNas(record);
        return;
      case 'other':
        return;
      default:
        return record.status satisfies never;
    }
  }

  async activeSessions(filter: ActiveSessionFilter = {}): Promise<ActiveSession[]> {
    const oldest = this.#now() - this.#ttlMs;
    const matches = [...this.#sessions.values()].filter(
      (session) =>
        session.lastUpdateAt > oldest &&
        (filter.nas === undefined || [session.client, session.nasIpAddress, session.nasIdentifier].includes(filter.nas)) &&
        (filter.userName === undefined || session.userName === filter.userName) &&
        (filter.callingStationId === undefined || session.callingStationId === filter.callingStationId),
    );
    return matches.sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Drops sessions older than the TTL now. */
  sweep(): void {
    const oldest = this.#now() - this.#ttlMs;
    // Update order: stop at the first session fresh enough.
    for (const [key, session] of this.#sessions) {
      if (session.lastUpdateAt > oldest) break;
      this.#sessions.delete(key);
    }
  }

  /**
   * Start inserts (a repeated Start refreshes); an Interim-Update refreshes, or inserts a session
   * whose Start was lost or went to another server (RFC 2869 §2.1: an Interim-Update carries the
   * cumulative counters of an existing session).
   */
  #upsert(record: AccountingRecord, sessionId: string): void {
    const key = sessionKey(record.client, sessionId);
    const known = this.#sessions.get(key);
    const startedAt =
      known?.startedAt ??
      (record.status === 'start' || record.sessionTime === undefined ? record.eventAt : record.eventAt - record.sessionTime * 1000);
    this.#sessions.delete(key);
    while (this.#sessions.size >= this.#maxSessions) {
      const stalest = this.#sessions.keys().next();
      if (stalest.done === true) break;
      this.#sessions.delete(stalest.value);
    }
    this.#sessions.set(key, { ...known, ...reported(record), client: record.client, sessionId, startedAt, lastUpdateAt: record.receivedAt });
  }

  /**
   * RFC 2866 §5.1: Accounting-On and -Off mean the NAS (re)started or stops accounting, so none
   * of its sessions lives on. The NAS is the client, narrowed by the NAS-IP-Address and
   * NAS-Identifier the record carries (one client entry may cover a whole network of NASes): a
   * session that names another NAS stays.
   */
  #removeNas(record: AccountingRecord): void {
    const differs = (ours: string | undefined, theirs: string | undefined) => ours !== undefined && theirs !== undefined && ours !== theirs;
    for (const [key, session] of this.#sessions) {
      if (
        session.client === record.client &&
        !differs(session.nasIpAddress, record.nasIpAddress) &&
        !differs(session.nasIdentifier, record.nasIdentifier)
      ) {
        this.#sessions.delete(key);
      }
    }
  }

  #sweepIfDue(): void {
    const now = this.#now();
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + SWEEP_INTERVAL_MS;
    this.sweep();
  }
}

/** The {@link SESSION_FIELDS} `record` carries. */
function reported(record: AccountingRecord): Partial<Pick<ActiveSession, (typeof SESSION_FIELDS)[number]>> {
  return Object.fromEntries(SESSION_FIELDS.flatMap((field) => (record[field] === undefined ? [] : [[field, record[field]]])));
}

/** Client names never hold a NUL (config `NAME_PATTERN`), so the key is unambiguous. */
function sessionKey(client: string, sessionId: string): string {
  return `${client}\u0000${sessionId}`;
}
