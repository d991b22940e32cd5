/**
 * Assertion blocks shared by the eapol_test integration tests: one authentication of a dev PKI
 * client against a test server, then what an Access-Accept or an Access-Reject must carry, what
 * the decision log must say and which counter must move. Every assertion carries the tail of the
 * eapol_test output as a diagnostic, so that a failure shows what the supplicant saw.
 */
import type { Test } from 'tap';
import type { DevClientName } from '../../src/pki/dev-pki.ts';
import { ENABLE_TLS13, ONLY_TLS12, runEapolTest, type EapolTestOptions, type EapolTestResult } from './eapol-test.ts';
import type { TestServer } from './test-server.ts';

/** The TLS versions of EAP-TLS (RFC 5216, RFC 9190). */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/** `TLSv1.2` or `TLSv1.3`. */
export type TlsVersionName = (typeof TLS_VERSIONS)[number];

/** The phase1 that makes eapol_test 2.10 use each version (TLS 1.3 is off by default there). */
const PHASE1: Readonly<Record<TlsVersionName, string>> = { 'TLSv1.2': ONLY_TLS12, 'TLSv1.3': ENABLE_TLS13 };

/** The counter of finished authentications, labelled outcome and reason. */
export const AUTHENTICATIONS_TOTAL = 'portcullis_authentications_total';

/** One authentication to run: a dev PKI client, a TLS version and eapol_test's own options. */
export interface Attempt extends Pick<EapolTestOptions, 'identity' | 'networkLines' | 'args'> {
  readonly client: DevClientName;
  readonly tls: TlsVersionName;
  /** Appended to the phase1 that selects the TLS version, e.g. `tls_disable_session_ticket=0`. */
  readonly phase1Extra?: string;
}

/** What one run produced: eapol_test's digest and the decision lines the server wrote meanwhile. */
export interface Run {
  readonly attempt: Attempt;
  readonly result: EapolTestResult;
  readonly decisions: readonly Record<string, unknown>[];
  /** Diagnostics attached to every assertion: the end of the eapol_test output. */
  readonly why: { readonly eapol_test_tail: string };
}

/** Runs eapol_test once for `attempt` and collects the decision lines written during the run. */
export async function authenticate(s: TestServer, attempt: Attempt): Promise<Run> {
  const { client, tls, phase1Extra, ...options } = attempt;
  const { cert: clientCert, key: privateKey } = s.pki.clients[client];
  const phase1 = PHASE1[tls];
  const before = s.decisions().length;
  const server = { port: s.port, secret: s.secret, caCert: s.pki.root.cert };
  const result = await runEapolTest({
    ...options,
    ...server,
    clientCert,
    privateKey,
    phase1: phase1Extra === undefined ? phase1 : `${phase1} ${phase1Extra}`,
  });
  return { attempt, result, decisions: s.decisions().slice(before), why: { eapol_test_tail: tail(result.output) } };
}

/** The last `lines` lines of an eapol_test output. */
export function tail(output: string, lines = 60): string {
  return output.trimEnd().split('\n').slice(-lines).join('\n');
}

/** What an accepted authentication must show. */
export interface AcceptExpectation {
  readonly rule: string;
  readonly vlan: number | string;
  /** Session-Timeout in seconds; absent means the Accept must not carry one. */
  readonly sessionTimeout?: number;
  /** Authentications in the run (eapol_test `-rN` makes N + 1). */
  readonly count?: number;
  /** The Accept carries EAP-Key-Name (eapol_test `-e`). */
  readonly keyName?: boolean;
}

/**
 * eapol_test SUCCESS with every MPPE key matching; the last reply an Access-Accept with EAP-Success,
 * the RFC 3580 §3.31 VLAN attributes and the rule's Session-Timeout; every handshake on the wanted
 * TLS version; one decision line per authentication naming the rule and the VLAN.
 */
export function expectAccept(t: Test, run: Run, wanted: AcceptExpectation): void {
  const { result, decisions, why } = run;
  const { tls } = run.attempt;
  const count = wanted.count ?? 1;
  const reply = result.lastReplyAttributes;
  t.ok(result.success, 'eapol_test reports SUCCESS', why);
  t.equal(result.mppeOk, count, `MPPE keys OK: ${count}`, why);
  t.equal(result.mppeMismatch, 0, 'MPPE mismatch: 0', why);
  t.equal(result.lastReplyCode, 'Access-Accept', 'last reply is an Access-Accept', why);
  t.match(reply.get('EAP-Message'), [/^03[0-9a-f]{2}0004$/], 'the Accept carries EAP-Success', why);
  t.same(reply.get('Tunnel-Type'), ['0000000d'], 'Tunnel-Type VLAN (13)', why);
  t.same(reply.get('Tunnel-Medium-Type'), ['00000006'], 'Tunnel-Medium-Type IEEE-802 (6)', why);
  const group = Buffer.from(String(wanted.vlan)).toString('hex');
  t.same(reply.get('Tunnel-Private-Group-Id'), [group], `Tunnel-Private-Group-Id "${wanted.vlan}"`, why);
  // eapol_test prints integer attributes in decimal: 3600 is 00000e10 on the wire.
  const timeout = wanted.sessionTimeout === undefined ? undefined : [String(wanted.sessionTimeout)];
  t.same(reply.get('Session-Timeout'), timeout, `Session-Timeout ${wanted.sessionTimeout ?? 'absent'}`, why);
  t.equal(reply.has('EAP-Key-Name'), wanted.keyName === true, `EAP-Key-Name ${wanted.keyName === true ? 'present' : 'absent'}`, why);
  t.ok(result.tlsVersions.length > 0, 'eapol_test reports the TLS version', why);
  t.same(new Set(result.tlsVersions), new Set([tls]), `every handshake on ${tls}`, why);
  t.equal(decisions.length, count, `${count} decision line(s)`, { decisions, ...why });
  for (const decision of decisions) {
    t.match(
      decision,
      { outcome: 'accept', reason: 'accepted', rule: wanted.rule, vlan: String(wanted.vlan), tls_version: tls, client: 'test-nas' },
      `decision: accept, rule ${wanted.rule}, vlan ${wanted.vlan}, ${tls}`,
      why,
    );
  }
}

/** What a rejected authentication must show. */
export interface RejectExpectation {
  readonly reason: string;
  /** The handshake completed before the refusal, so the decision line names the TLS version (default true). */
  readonly handshakeCompleted?: boolean;
  /** The `rule` field of the decision line; absent when no rule decided (certificate checks). */
  readonly rule?: string;
}

/**
 * Runs `attempt` and checks the reject: eapol_test FAILURE with no MPPE keys; an Access-Reject
 * with EAP-Failure, the reason as Reply-Message and neither keys nor VLAN; one reject decision
 * line with the reason; `portcullis_authentications_total{outcome="reject",reason}` up by one.
 */
export async function expectReject(t: Test, s: TestServer, attempt: Attempt, wanted: RejectExpectation): Promise<Run> {
  const labels = { outcome: 'reject', reason: wanted.reason };
  const before = await s.metric(AUTHENTICATIONS_TOTAL, labels);
  const run = await authenticate(s, attempt);
  const { result, decisions, why } = run;
  const reply = result.lastReplyAttributes;
  t.notOk(result.success, 'eapol_test reports FAILURE', why);
  t.not(result.exitCode, 0, 'eapol_test exits non-zero', why);
  t.equal(result.mppeOk, 0, 'no MPPE keys', why);
  t.equal(result.lastReplyCode, 'Access-Reject', 'last reply is an Access-Reject', why);
  t.match(reply.get('EAP-Message'), [/^04[0-9a-f]{2}0004$/], 'the Reject carries EAP-Failure', why);
  t.equal(result.replyMessage, `rejected: ${wanted.reason}`, 'Reply-Message names the reason', why);
  t.notOk(reply.has('Vendor-Specific') || reply.has('Tunnel-Private-Group-Id'), 'no keys and no VLAN in the Reject', why);
  t.equal(decisions.length, 1, 'one decision line', { decisions, ...why });
  t.match(decisions[0], { outcome: 'reject', reason: wanted.reason, client: 'test-nas' }, `decision: reject, ${wanted.reason}`, why);
  t.equal(decisions[0]?.['rule'], wanted.rule, `decision rule: ${wanted.rule ?? 'none'}`, why);
  const tlsVersion = wanted.handshakeCompleted === false ? undefined : attempt.tls;
  t.equal(decisions[0]?.['tls_version'], tlsVersion, `decision tls_version: ${tlsVersion ?? 'none'}`, why);
  t.equal(await s.metric(AUTHENTICATIONS_TOTAL, labels), before + 1, `${AUTHENTICATIONS_TOTAL}{reject,${wanted.reason}} + 1`, why);
  return run;
}

/**
 * eapol_test read a fatal TLS alert with this description from the server (RFC 5216 §2.1.3) and
 * raised none of its own.
 */
export function expectRemoteAlert(t: Test, run: Run, description: string): void {
  t.same(run.result.tlsAlerts, [{ origin: 'remote', description }], `the supplicant reads the server's alert "${description}"`, run.why);
}
