/**
 * What the live checks (revocation, identity providers) of one decision add to the metrics and
 * to the decision log line: each answer's result, its source (cache or live) and latency.
 */
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import type { LiveChecks } from '../policy/decide.ts';
import type { RemoteCrlEvent } from '../policy/remote-crls.ts';
import { assertNever } from '../errors.ts';

/** Counts the answers of one decision, and a fail-open when a check soft-failed. */
export function recordLiveChecks(metrics: ServerMetrics, checks: LiveChecks | undefined, accepted: boolean): void {
  if (checks === undefined) return;
  for (const answer of checks.revocation?.answers ?? []) {
    metrics.revocationChecks.inc({ source: answer.source, result: answer.result, cached: String(answer.cached) });
    if (!answer.cached && answer.latencyMs > 0) metrics.revocationSeconds.observe({ source: answer.source }, answer.latencyMs / 1000);
  }
  for (const result of checks.identity) {
    metrics.identityLookups.inc({ provider: result.provider, status: result.status, cached: String(result.source === 'cache') });
    if (result.source === 'live') metrics.identitySeconds.observe({ provider: result.provider }, result.latencyMs / 1000);
  }
  if (!accepted) return;
  if (checks.revocation?.softFailed === true) metrics.failOpen.inc({ check: 'revocation' });
  if (checks.identity.some((result) => result.status === 'unavailable')) metrics.failOpen.inc({ check: 'identity' });
}

/**
 * The decision log's `revocation` and `identity_lookups` fields (`identity` is the EAP identity);
 * undefined fields are left out of the line.
 */
export function liveCheckFields(checks: LiveChecks | undefined): { revocation?: unknown; identity_lookups?: unknown } {
  if (checks === undefined) return {};
  const revocation = checks.revocation;
  return {
    revocation:
      revocation === undefined
        ? undefined
        : {
            check: revocation.check,
            refusal: revocation.refusal,
            soft_failed: revocation.softFailed || undefined,
            answers: revocation.answers.map((answer) => ({
              source: answer.source,
              result: answer.result,
              cached: answer.cached,
              latency_ms: answer.latencyMs,
              detail: answer.detail,
            })),
          },
    identity_lookups:
      checks.identity.length === 0
        ? undefined
        : checks.identity.map((result) => ({
            lookup: result.lookup,
            provider: result.provider,
            key: result.key,
            status: result.status,
            groups: result.groups.length > 0 ? result.groups : undefined,
            detail: result.detail,
            cached: result.source === 'cache',
            latency_ms: result.latencyMs,
          })),
  };
}

/** Logs and counts what the CRL fetcher reports: each download, each failure, each CRL gone stale. */
export function crlEventLogger(logger: Logger, metrics: ServerMetrics): (event: RemoteCrlEvent) => void {
  return (event) => {
    switch (event.kind) {
      case 'fetched':
        metrics.crlFetches.inc({ result: 'fetched' });
        logger.info({ crl: event.url, revoked: event.revoked, this_update: event.thisUpdate, next_update: event.nextUpdate, ms: event.ms }, 'CRL fetched');
        return;
      case 'fetch-failed':
        metrics.crlFetches.inc({ result: 'failed' });
        logger.warn({ crl: event.url, reason: event.reason, detail: event.detail }, 'CRL fetch failed: the CRL held (if any) stays in force');
        return;
      case 'stale':
        logger.warn({ crl: event.url, next_update: event.nextUpdate }, 'CRL is past its nextUpdate and no newer one could be fetched');
        return;
      default:
        assertNever(event);
    }
  };
}
