/**
 * Certificate and CRL lifecycle: the expiry gauges, and a warning in the log for anything that
 * expires (or whose CRL is due for an update) within the configured window. An expired server
 * certificate or a stale CRL is an outage monitoring should have seen weeks before.
 */
import type { Logger } from '../obs/logger.ts';
import type { ServerMetrics } from '../obs/metrics.ts';
import type { ServerContext } from './server-context.ts';

/** Something of the PKI that expires (a certificate) or is due (a CRL's nextUpdate). */
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

/** Certificates that expire within the certificate window, and CRLs due within the CRL window. */
export function expiringWithin(context: ServerContext, now: Date): Expiring[] {
  const { expiryWarningDays, crlWarningHours } = context.config.operations;
  const certificateHorizon = now.getTime() + expiryWarningDays * 86_400_000;
  const crlHorizon = now.getTime() + crlWarningHours * 3_600_000;
  return [
    ...context.certificates
      .filter((c) => c.notAfter.getTime() <= certificateHorizon)
      .map((c) => ({ what: `${c.kind} certificate`, subject: c.subject, at: c.notAfter })),
    ...context.crls.flatMap((crl) =>
      crl.nextUpdate !== undefined && crl.nextUpdate.getTime() <= crlHorizon
        ? [{ what: `CRL ${crl.source}`, subject: crl.issuerText, at: crl.nextUpdate }]
        : [],
    ),
  ];
}

/** Logs one warning per item of {@link expiringWithin}. */
export function warnExpiring(logger: Logger, context: ServerContext, now: Date): void {
  for (const item of expiringWithin(context, now)) {
    const hoursLeft = Math.floor((item.at.getTime() - now.getTime()) / 3_600_000);
    logger.warn(
      { event: 'expiry-warning', what: item.what, subject: item.subject, expires: item.at.toISOString(), hours_left: hoursLeft },
      hoursLeft < 0 ? `${item.what} is past its date` : `${item.what} is due in ${hoursLeft} hours`,
    );
  }
}
