/**
 * Upkeep shared by every thread that handles Access-Requests (the main thread, or each EAP
 * worker): the sweep of idle conversations and old replies, and the revocation sources a new
 * configuration runs with.
 */
import type { Config } from '../config/index.ts';
import type { SessionTable } from '../eap/session-table.ts';
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import { revocationSources, type RevocationSources } from '../policy/revocation.ts';
import { crlEventLogger } from './live-check-report.ts';
import type { ReplyCache } from './reply-cache.ts';
import { buildContext, type ContextState, type ServerContext } from './server-context.ts';

/** How often idle conversations and old replies are swept: a coarse timer (habit 11). */
export const SWEEP_INTERVAL_MS = 1_000;
/** How long a reply stays cached for retransmissions (FreeRADIUS `cleanup_delay` is 5 s). */
export const REPLY_CACHE_MS = 10_000;

/** What a sweep works on. */
export interface SweepTarget {
  readonly sessions: SessionTable;
  readonly replies: ReplyCache;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
}

/** Forgets old replies and expires idle conversations (counted and logged); returns how many expired. */
export function sweepConversations({ sessions, replies, metrics, logger }: SweepTarget, now: number): number {
  replies.sweep(now);
  const expired = sessions.expire(now);
  if (expired.length === 0) return 0;
  metrics.sessionsExpired.inc(expired.length);
  metrics.sessionsInFlight.set(sessions.size);
  for (const session of expired) {
    logger.info({ event: 'session-expired', identity: session.identity, client: session.clientName, rounds: session.rounds }, 'EAP conversation expired');
  }
  return expired.length;
}

/** The revocation sources of a fresh start. */
export function freshRevocationSources(config: Config, logger: Logger, metrics: ServerMetrics): RevocationSources {
  return revocationSources(config.revocation, Date.now, crlEventLogger(logger, metrics));
}

/** A reload's new context and the revocation sources it runs with. */
export interface Rebuilt {
  readonly context: ServerContext;
  readonly sources: RevocationSources;
}

/**
 * Builds the context `next` runs with (a reload). The running revocation sources, with their
 * fetched CRLs and cached OCSP answers, are kept unless the client settings (`revocation.ocsp`,
 * `revocation.crl`) changed. `alongside` runs once the context is built (the workers' reload).
 * When the build or `alongside` fails, sources made for `next` are closed and the error is
 * thrown; on success, replaced sources are closed.
 */
export async function rebuildContext(
  next: Config,
  running: Config,
  current: RevocationSources,
  state: Omit<ContextState, 'sources'>,
  observe: { readonly logger: Logger; readonly metrics: ServerMetrics },
  alongside: () => Promise<void> = async () => undefined,
): Promise<Rebuilt> {
  const clientSettings = (c: Config) => JSON.stringify({ ocsp: c.revocation.ocsp, crl: c.revocation.crl });
  const sources = clientSettings(next) === clientSettings(running) ? current : freshRevocationSources(next, observe.logger, observe.metrics);
  let context: ServerContext;
  try {
    context = await buildContext(next, { ...state, sources });
    await alongside();
  } catch (error) {
    if (sources !== current) sources.crls.close();
    throw error;
  }
  if (sources !== current) current.crls.close();
  return { context, sources };
}

/** Session limits of one thread: the total cap shared out between `threads` threads. */
export function sessionLimits(config: Config, threads = 1) {
  return { maxSessions: Math.ceil(config.eap.maxSessions / threads), idleTimeoutMs: config.eap.idleTimeoutSeconds * 1000 };
}
