/**
 * The server's Prometheus metrics (prom-client), one registry per server instance. Label values
 * come from closed sets (codec and policy reasons, packet codes) or from the configuration
 * (client names, rule reasons): never an identity, a MAC address or a certificate field.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics of one server. */
export class ServerMetrics {
  readonly registry = new Registry();

  /** Packets received from known clients, by RADIUS code name and client. */
  readonly packetsReceived = new Counter({
    name: 'portcullis_radius_packets_received_total',
    help: 'RADIUS packets received, by packet code and NAS client (unknown for packets from unknown sources)',
    labelNames: ['code', 'client'] as const,
    registers: [this.registry],
  });

  /** Packets dropped without a reply, by reason. */
  readonly packetsDropped = new Counter({
    name: 'portcullis_radius_packets_dropped_total',
    help: 'RADIUS packets dropped without a reply, by reason (codec reasons, unknown-client, bad-message-authenticator, duplicate, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Retransmissions answered from the reply cache. */
  readonly duplicatesReplayed = new Counter({
    name: 'portcullis_radius_duplicates_replayed_total',
    help: 'Retransmitted requests answered with the cached reply',
    registers: [this.registry],
  });

  /** Replies sent, by RADIUS code name. */
  readonly repliesSent = new Counter({
    name: 'portcullis_radius_replies_sent_total',
    help: 'RADIUS replies sent, by packet code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /** Finished authentications, by outcome and reason. */
  readonly authentications = new Counter({
    name: 'portcullis_authentications_total',
    help: 'Finished EAP authentications, by outcome (accept/reject) and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  /** Full authentication duration by TLS version. */
  readonly authenticationSeconds = new Histogram({
    name: 'portcullis_authentication_duration_seconds',
    help: 'Time from EAP-Response/Identity to the final reply, by TLS version and outcome',
    labelNames: ['tls_version', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** RADIUS round trips per finished authentication. */
  readonly authenticationRounds = new Histogram({
    name: 'portcullis_authentication_rounds',
    help: 'RADIUS round trips per finished EAP authentication, by TLS version',
    labelNames: ['tls_version'] as const,
    buckets: [2, 4, 6, 8, 10, 12, 16, 20, 30, 40],
    registers: [this.registry],
  });

  /** Unfinished EAP conversations now. */
  readonly sessionsInFlight = new Gauge({
    name: 'portcullis_eap_sessions_in_flight',
    help: 'Unfinished EAP conversations',
    registers: [this.registry],
  });

  /** New conversations refused by a session cap. */
  readonly sessionCapHits = new Counter({
    name: 'portcullis_eap_session_cap_hits_total',
    help: 'New EAP conversations refused because a cap was reached, by cap (total or client)',
    labelNames: ['cap'] as const,
    registers: [this.registry],
  });

  /** Conversations discarded after the idle timeout. */
  readonly sessionsExpired = new Counter({
    name: 'portcullis_eap_sessions_expired_total',
    help: 'Unfinished EAP conversations discarded after the idle timeout',
    registers: [this.registry],
  });

  /** Expiry time of each configured certificate. */
  readonly certificateExpiry = new Gauge({
    name: 'portcullis_certificate_expiry_timestamp_seconds',
    help: 'notAfter of each configured certificate (Unix seconds), by kind (server, trust-anchor, intermediate) and subject',
    labelNames: ['kind', 'subject'] as const,
    registers: [this.registry],
  });

  /** nextUpdate of each CRL in force. */
  readonly crlNextUpdate = new Gauge({
    name: 'portcullis_crl_next_update_timestamp_seconds',
    help: 'nextUpdate of each CRL in force (Unix seconds), by issuer; absent for a CRL without nextUpdate',
    labelNames: ['issuer'] as const,
    registers: [this.registry],
  });

  /** Status-Server packets answered, by the port they came to (RFC 5997). */
  readonly statusServer = new Counter({
    name: 'portcullis_status_server_total',
    help: 'Status-Server packets answered, by port (auth: Access-Accept, accounting: Accounting-Response)',
    labelNames: ['port'] as const,
    registers: [this.registry],
  });

  /** Accounting records stored and answered, by Acct-Status-Type name. */
  readonly accountingRecords = new Counter({
    name: 'portcullis_accounting_records_total',
    help: 'Accounting-Requests stored and answered, by status (start, stop, interim-update, accounting-on, accounting-off, other)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  /** Configuration reloads by result. */
  readonly configReloads = new Counter({
    name: 'portcullis_config_reloads_total',
    help: 'Configuration reloads, by result (success, failure: the running configuration stays)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** 1 while the server accepts new conversations, 0 before start-up completes and while draining. */
  readonly ready = new Gauge({
    name: 'portcullis_ready',
    help: '1 while the server accepts new EAP conversations; 0 while starting or draining for shutdown',
    registers: [this.registry],
  });

  /** RadSec connection attempts by result. */
  readonly radsecConnections = new Counter({
    name: 'portcullis_radsec_connections_total',
    help: 'RadSec connection attempts, by result (accepted, tls-refused, unknown-peer, certificate-revoked, certificate-refused, connection-limit)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** RadSec connections open now. */
  readonly radsecOpen = new Gauge({
    name: 'portcullis_radsec_connections_open',
    help: 'RadSec connections open now',
    registers: [this.registry],
  });

  /** Revocation answers per authentication, by source and result. */
  readonly revocationChecks = new Counter({
    name: 'portcullis_revocation_checks_total',
    help: 'Revocation answers used in decisions, by source (ocsp, crl), result (good, revoked, unknown, stale, unavailable) and cached (true: from memory)',
    labelNames: ['source', 'result', 'cached'] as const,
    registers: [this.registry],
  });

  /** Time spent asking an OCSP responder or fetching a CRL during an authentication. */
  readonly revocationSeconds = new Histogram({
    name: 'portcullis_revocation_check_duration_seconds',
    help: 'Time an authentication waited for a live revocation answer (cache misses only), by source',
    labelNames: ['source'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Identity-provider answers per authentication. */
  readonly identityLookups = new Counter({
    name: 'portcullis_identity_lookups_total',
    help: 'Identity-provider answers used in decisions, by provider, status (active, disabled, not-found, unavailable) and cached (true: from memory)',
    labelNames: ['provider', 'status', 'cached'] as const,
    registers: [this.registry],
  });

  /** Time spent waiting for an identity provider. */
  readonly identitySeconds = new Histogram({
    name: 'portcullis_identity_lookup_duration_seconds',
    help: 'Time an authentication waited for an identity provider (cache misses only), by provider',
    labelNames: ['provider'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Authentications let through although a live check could not answer (fail-open). */
  readonly failOpen = new Counter({
    name: 'portcullis_fail_open_total',
    help: 'Decisions made although a live check could not answer and its fail mode is accept, by check (revocation, identity)',
    labelNames: ['check'] as const,
    registers: [this.registry],
  });

  /** CRL fetches from URLs, by result. */
  readonly crlFetches = new Counter({
    name: 'portcullis_crl_fetches_total',
    help: 'CRL downloads from URLs, by result (fetched, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Series that alerts watch with increase(): present at 0 from the start, so the first event counts.
    for (const result of ['success', 'failure'] as const) this.configReloads.inc({ result }, 0);
    for (const cap of ['total', 'client'] as const) this.sessionCapHits.inc({ cap }, 0);
    for (const check of ['revocation', 'identity'] as const) this.failOpen.inc({ check }, 0);
    for (const result of ['fetched', 'failed'] as const) this.crlFetches.inc({ result }, 0);
  }

  /** Adds the process metrics (CPU, memory, event loop lag) to the registry. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }
}
