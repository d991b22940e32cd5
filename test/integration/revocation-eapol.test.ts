/**
 * Live revocation end to end: eapol_test against a server whose profile asks a real `openssl
 * ocsp` responder (delegated signer, reachable on loopback only: see ocsp-responder.ts) and a
 * local CRL publisher. A client revoked only in the OCSP index is refused while the CRL still
 * accepts it; unknown, tampered, wrong-certificate and unreachable answers follow the fail modes;
 * answers are cached and checked again on a resumed session.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { tail } from '../support/eapol-checks.ts';
import { CrlServer } from '../support/crl-server.ts';
import { ENABLE_TLS13, ONLY_TLS12, runEapolTest, type EapolTestResult } from '../support/eapol-test.ts';
import { buildOcspPki, type OcspPki } from '../support/ocsp-pki.ts';
import { OcspFront } from '../support/ocsp-responder.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const front = await OcspFront.listen();
const crls = await CrlServer.start();
t.teardown(async () => {
  await front.stop();
  await crls.close();
});
const pki: OcspPki = buildOcspPki({ ocspUrl: front.url, crlUrl: crls.url('/root.crl') });
await front.start(pki, { signer: 'delegated' });
crls.set('/root.crl', { mode: 'serve', body: readFileSync(pki.crl) });

const POLICY = `
policy:
  rules:
    - name: engineering
      match: { cert_subject: { OU: Engineering } }
      action: accept
      vlan: 10
  default: { action: reject, reason: no-matching-rule }
`;

const PKI_YAML = `  certificate: ${pki.serverChain}
  private_key: ${pki.serverKey}
  trust_anchors: [${pki.rootCert}]`;

function revocationYaml(check: string, extra = ''): string {
  return `
revocation:
  profiles:
    - trust_anchors: [${pki.rootCert}]
      check: ${check}
${extra}
  ocsp:
    timeout_ms: 800
    failure_cooldown_seconds: 0
  crl:
    failure_cooldown_seconds: 0
`;
}

async function serverWith(t: Test, check: string, extra = ''): Promise<TestServer> {
  return startTestServer(t, { pkiYaml: PKI_YAML, policyYaml: POLICY, extraYaml: revocationYaml(check, extra) });
}

type Client = keyof OcspPki['clients'];

async function run(server: TestServer, client: Client, tls: 'TLSv1.2' | 'TLSv1.3', args: string[] = []): Promise<{ result: EapolTestResult; decisions: Record<string, unknown>[]; why: object }> {
  const before = server.decisions().length;
  const result = await runEapolTest({
    port: server.port,
    secret: server.secret,
    clientCert: pki.clients[client].chain,
    privateKey: pki.clients[client].key,
    caCert: pki.rootCert,
    phase1: tls === 'TLSv1.3' ? ENABLE_TLS13 : ONLY_TLS12,
    args,
  });
  const decisions = server.decisions().slice(before);
  return { result, decisions, why: { decisions, eapol_test_tail: tail(result.output, 20) } };
}

async function expectOutcome(t: Test, server: TestServer, client: Client, tls: 'TLSv1.2' | 'TLSv1.3', wanted: { outcome: 'accept' | 'reject'; reason?: string; answers?: unknown[] }): Promise<Record<string, unknown> | undefined> {
  const { result, decisions, why } = await run(server, client, tls);
  t.equal(result.success, wanted.outcome === 'accept', `eapol_test ${wanted.outcome === 'accept' ? 'SUCCESS' : 'FAILURE'}`, why);
  t.equal(result.lastReplyCode, wanted.outcome === 'accept' ? 'Access-Accept' : 'Access-Reject', 'final reply', why);
  t.match(decisions, [{ outcome: wanted.outcome, reason: wanted.reason ?? 'accepted', ...(wanted.answers === undefined ? {} : { revocation: { answers: wanted.answers } }) }], 'decision line', why);
  return decisions[0];
}

t.test('OCSP, hard-fail: good, revoked only in the OCSP index, unknown', async (t) => {
  const server = await serverWith(t, 'ocsp');
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    await t.test(`${tls}: good is accepted`, async (t) => {
      await expectOutcome(t, server, 'good', tls, { outcome: 'accept', answers: [{ source: 'ocsp', result: 'good' }] });
    });
    await t.test(`${tls}: revoked in the OCSP index is refused, with the server's alert`, async (t) => {
      const decision = await expectOutcome(t, server, 'revoked', tls, { outcome: 'reject', reason: 'certificate-revoked', answers: [{ source: 'ocsp', result: 'revoked' }] });
      t.match(decision, { detail: /revoked 20\d\d-/ }, 'the revocation time is in the detail');
    });
    await t.test(`${tls}: unknown to the responder is refused`, async (t) => {
      await expectOutcome(t, server, 'unknown', tls, { outcome: 'reject', reason: 'revocation-unknown', answers: [{ source: 'ocsp', result: 'unknown' }] });
    });
  }
  await t.test('answers come from the cache after the first', async (t) => {
    const asked = front.requests;
    await expectOutcome(t, server, 'good', 'TLSv1.3', { outcome: 'accept', answers: [{ source: 'ocsp', result: 'good', cached: true, latency_ms: 0 }] });
    t.equal(front.requests, asked, 'the responder was not asked again');
    t.ok((await server.metric('portcullis_revocation_checks_total', { source: 'ocsp', result: 'good', cached: 'true' })) >= 2, 'cache hits counted');
    t.ok((await server.metric('portcullis_revocation_checks_total', { source: 'ocsp', result: 'revoked', cached: 'false' })) >= 1, 'live revoked answer counted');
  });
});

t.test('the CRL alone does not know about the OCSP-only revocation', async (t) => {
  const server = await serverWith(t, 'crl');
  await expectOutcome(t, server, 'revoked', 'TLSv1.3', { outcome: 'accept', answers: [{ source: 'crl', result: 'good' }] });
  await t.test('a CRL published later, listing it, takes over on its next fetch', async (t) => {
    const later = join(pki.dir, 'root-later.crl.pem');
    // The CA configuration reads SAN_EMAIL for client certificates; any value does for a CRL.
    execFileSync('openssl', ['ca', '-batch', '-config', join(pki.dir, 'root-ca', 'ca.cnf'), '-cert', pki.rootCert, '-keyfile', pki.rootKey, '-gencrl', '-out', later], {
      stdio: 'pipe',
      env: { ...process.env, SAN_EMAIL: 'crl@ocsp.test' },
    });
    crls.set('/root-later.crl', { mode: 'serve', body: readFileSync(later) });
    const fresh = await startTestServer(t, {
      pkiYaml: PKI_YAML,
      policyYaml: POLICY,
      extraYaml: revocationYaml('crl', `      crl_urls: [${crls.url('/root-later.crl')}]`),
    });
    await expectOutcome(t, fresh, 'revoked', 'TLSv1.2', { outcome: 'reject', reason: 'certificate-revoked', answers: [{ source: 'crl', result: 'revoked' }] });
    await expectOutcome(t, fresh, 'good', 'TLSv1.2', { outcome: 'accept', answers: [{ source: 'crl', result: 'good', cached: true }] });
  });
  await t.test('a CRL with a bad signature is not used: unavailable, refused', async (t) => {
    const forged = Buffer.from(readFileSync(pki.crl, 'latin1').replace(/-----BEGIN X509 CRL-----\n([\s\S]*?)-----END/, (_m, body: string) => {
      const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      der[der.length - 5]! ^= 0x01;
      return `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END`;
    }), 'latin1');
    crls.set('/forged.crl', { mode: 'serve', body: forged });
    const fresh = await startTestServer(t, {
      pkiYaml: PKI_YAML,
      policyYaml: POLICY,
      extraYaml: revocationYaml('crl', `      crl_urls: [${crls.url('/forged.crl')}]\n      crl_distribution_points: false`),
    });
    await expectOutcome(t, fresh, 'good', 'TLSv1.3', { outcome: 'reject', reason: 'revocation-unavailable', answers: [{ source: 'crl', result: 'unavailable', detail: /bad-signature/ }] });
  });
});

t.test('responder trouble: hard-fail refuses, soft-fail accepts and counts', async (t) => {
  const hard = await serverWith(t, 'ocsp');
  const soft = await serverWith(t, 'ocsp', '      on_unavailable: accept');
  t.teardown(() => front.setMode('pass'));
  // wrong-certificate answers every question with the good client's response: ask about another.
  const cases = [
    ['down', 'good', /network|http-error/],
    ['tamper', 'good', /bad-signature/],
    ['wrong-certificate', 'revoked', /wrong-certificate/],
    ['slow', 'good', /timeout/],
  ] as const;
  for (const [mode, client, detail] of cases) {
    await t.test(mode, async (t) => {
      front.setMode(mode, 2000);
      await expectOutcome(t, hard, client, 'TLSv1.3', { outcome: 'reject', reason: 'revocation-unavailable', answers: [{ source: 'ocsp', result: 'unavailable', detail }] });
      const decision = await expectOutcome(t, soft, client, 'TLSv1.2', { outcome: 'accept', answers: [{ source: 'ocsp', result: 'unavailable', detail }] });
      t.match(decision, { revocation: { soft_failed: true } });
    });
  }
  t.equal(await soft.metric('portcullis_fail_open_total', { check: 'revocation' }), 4, 'each soft-fail counted');
  t.equal(await hard.metric('portcullis_fail_open_total', { check: 'revocation' }), 0);
});

t.test('either: OCSP first, the CRL when OCSP cannot answer', async (t) => {
  const server = await serverWith(t, 'either');
  t.teardown(() => front.setMode('pass'));
  front.setMode('down');
  await expectOutcome(t, server, 'good', 'TLSv1.3', { outcome: 'accept', answers: [{ source: 'ocsp', result: 'unavailable' }, { source: 'crl', result: 'good' }] });
  front.setMode('pass');
  await expectOutcome(t, server, 'revoked', 'TLSv1.3', { outcome: 'reject', reason: 'certificate-revoked', answers: [{ source: 'ocsp', result: 'revoked' }] });
});

t.test('a resumed session is checked again', async (t) => {
  const server = await serverWith(t, 'both');
  const { result, decisions, why } = await run(server, 'good', 'TLSv1.3', ['-r1']);
  t.ok(result.success, 'eapol_test SUCCESS', why);
  t.match(
    decisions.map((line) => [line['tls_resumed'], (line['revocation'] as { answers: unknown[] } | undefined)?.answers.length]),
    [[false, 2], [true, 2]],
    'both authentications carry an OCSP and a CRL answer',
    why,
  );
});
