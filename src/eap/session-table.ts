/**
 * The table of unfinished EAP conversations: lookup by State, caps per client and overall
 * (a half-open TLS session costs ~57 KB, FIELD-NOTES), and expiry of idle conversations.
 */
import type { EapSession } from './session.ts';

/** Why a new conversation was not admitted. */
export type AdmissionRefusal = 'session-cap-total' | 'session-cap-client';

/** Limits on the table, from the configuration. */
export interface SessionTableLimits {
  readonly maxSessions: number;
  readonly idleTimeoutMs: number;
}

/** All unfinished conversations of one server. */
export class SessionTable {
  readonly #byState = new Map<string, EapSession>();
  readonly #perClient = new Map<string, number>();
  #limits: SessionTableLimits;

  constructor(limits: SessionTableLimits) {
    this.#limits = limits;
  }

  /** Applies new limits (a reload); conversations already admitted stay. */
  setLimits(limits: SessionTableLimits): void {
    this.#limits = limits;
  }

  /** Unfinished conversations now. */
  get size(): number {
    return this.#byState.size;
  }

  /** Unfinished conversations of one client now. */
  countFor(clientName: string): number {
    return this.#perClient.get(clientName) ?? 0;
  }

  /** Whether a new conversation of this client fits under the caps. */
  admit(clientName: string, clientCap: number): AdmissionRefusal | undefined {
    if (this.#byState.size >= this.#limits.maxSessions) return 'session-cap-total';
    if (this.countFor(clientName) >= clientCap) return 'session-cap-client';
    return undefined;
  }

  /** Adds a conversation admitted by {@link admit}. */
  add(session: EapSession): void {
    this.#byState.set(session.state.toString('hex'), session);
    this.#perClient.set(session.clientName, this.countFor(session.clientName) + 1);
  }

  /** The conversation a State names, if it is still unfinished and belongs to that client. */
  get(state: Buffer, clientName: string): EapSession | undefined {
    const session = this.#byState.get(state.toString('hex'));
    return session?.clientName === clientName ? session : undefined;
  }

  /** Removes a conversation (finished, expired or abandoned). Safe to call twice. */
  remove(session: EapSession): void {
    if (!this.#byState.delete(session.state.toString('hex'))) return;
    const left = this.countFor(session.clientName) - 1;
    if (left > 0) this.#perClient.set(session.clientName, left);
    else this.#perClient.delete(session.clientName);
  }

  /**
   * Removes and abandons conversations idle for longer than the idle timeout; returns them so
   * the caller can log and count. Conversations being worked on are left alone.
   */
  expire(now: number): EapSession[] {
    const expired: EapSession[] = [];
    for (const session of this.#byState.values()) {
      if (session.status === 'processing' || session.status === 'deciding') continue;
      if (now - session.lastSeen > this.#limits.idleTimeoutMs) expired.push(session);
    }
    for (const session of expired) {
      this.remove(session);
      session.abandon();
    }
    return expired;
  }

  /** Abandons every conversation (shutdown). */
  clear(): void {
    for (const session of this.#byState.values()) session.abandon();
    this.#byState.clear();
    this.#perClient.clear();
  }
}
