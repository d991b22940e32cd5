/**
 * Certificate and CRL lifecycle: the expiry gauges, and a warning in the log for anything that
 * expires (or whose CRL is due for an update) within the configured window. An expired server
 * certificate or a stale CRL is an outage monitoring should have seen weeks before.
 */
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import type { ServerContext } from './server-context.ts';

/** Something of the PKI that expires. */
export interface Expiring {
  readonly what: string;
  readonly subject: string;
  readonly at: Date;
}

/** Sets the gauges from the context in force; series of a previous context are removed. */
export function recordLifetimes(metrics: ServerMetrics, context: ServerContext): void {
  metrics.certificateExpiry.reset();
  for (const certificate of context.certificates) {
    metrics.certificateExpiry.set({ kind: certificate.kind, subject: certificate.subject }, certificate.notAfter.getTime() / 1000);
  }
  metrics.crlNextUpdate.reset();
  for (const crl of context.crls) {
    if (crl.nextUpdate !== undefined) metrics.crlNextUpdate.set({ issuer: crl.issuerText }, crl.nextUpdate.getTime() / 1000);
  }
}

/** Certificates that expire, and CRLs due for update, before `now` plus `days`. */
export function expiringWithin(context: ServerContext, now: Date, days: number): Expiring[] {
  const horizon = now.getTime() + days * 86_400_000;
  const all: Expiring[] = [
    ...context.certificates.map((c) => ({ what: `${c.kind} certificate`, subject: c.subject, at: c.notAfter })),
    ...context.crls.flatMap((crl) =>
      crl.nextUpdate === undefined ? [] : [{ what: `CRL (${crl.source})`, subject: crl.issuerText, at: crl.nextUpdate }],
    ),
  ];
  return all.filter((entry) => entry.at.getTime() <= horizon);
}

/** Logs one warning per item of {@link expiringWithin}. */
export function warnExpiring(logger: Logger, context: ServerContext, now: Date): void {
  const days = context.config.operations.expiryWarningDays;
  for (const item of expiringWithin(context, now, days)) {
    const daysLeft = Math.floor((item.at.getTime() - now.getTime()) / 86_400_000);
    logger.warn(
      { event: 'expiry-warning', what: item.what, subject: item.subject, expires: item.at.toISOString(), days_left: daysLeft },
      daysLeft < 0 ? `${item.what} has expired` : `${item.what} expires within ${days} days`,
    );
  }
}
