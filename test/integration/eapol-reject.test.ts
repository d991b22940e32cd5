/**
 * End to end against the real eapol_test: every certificate and policy refusal on TLS 1.2 and
 * TLS 1.3 (the alert path differs: in TLS 1.2 the server withholds its final flight, in TLS 1.3 its
 * Finished is already out), and a TLS version below the configured minimum.
 */
import t from 'tap';
import type { DevClientName } from '../../src/pki/dev-pki.ts';
import { authenticate, expectAccept, expectReject, expectRemoteAlert, TLS_VERSIONS } from '../support/eapol-checks.ts';
import { startTestServer } from '../support/test-server.ts';

const s = await startTestServer(t);

/** One refused client: the decision reason, the deciding rule and the alert that tells the peer why. */
interface RefusalCase {
  readonly client: DevClientName;
  readonly what: string;
  readonly reason: string;
  readonly rule?: string;
  /** OpenSSL's long name of the alert description the server picks (src/server/alerts.ts). */
  readonly alert: string;
}

const REFUSALS: readonly RefusalCase[] = [
  { client: 'client-revoked', what: 'revoked (on the CRL)', reason: 'certificate-revoked', alert: 'certificate revoked' },
  { client: 'client-expired', what: 'expired', reason: 'certificate-expired', alert: 'certificate expired' },
  // Its PEM holds only the leaf: the unrelated root is not a trust anchor.
  { client: 'client-unknown-ca', what: 'from an unknown CA', reason: 'untrusted-issuer', alert: 'unknown CA' },
  { client: 'client-guest', what: 'of OU Guests (no rule matches)', reason: 'no-matching-rule', rule: 'default', alert: 'access denied' },
  { client: 'client-noeku', what: 'without the clientAuth EKU', reason: 'missing-client-auth-eku', alert: 'unsupported certificate' },
];

for (const tls of TLS_VERSIONS) {
  for (const refusal of REFUSALS) {
    t.test(`${tls}, client ${refusal.what}: Access-Reject, reason ${refusal.reason}`, async (t) => {
      const run = await expectReject(
        t,
        s,
        { client: refusal.client, tls },
        { reason: refusal.reason, ...(refusal.rule === undefined ? {} : { rule: refusal.rule }) },
      );
      // TLS 1.3 peers get the alert protected with the server traffic keys (src/tls/tls13-alert.ts).
      expectRemoteAlert(t, run, refusal.alert);
    });
  }
}

t.test('tls.min_version TLSv1.3: a TLS 1.2-only supplicant is refused, the next TLS 1.3 one accepted', async (t) => {
  const strict = await startTestServer(t, { tlsYaml: '  min_version: TLSv1.3' });
  const refused = await expectReject(
    t,
    strict,
    { client: 'client-ec', tls: 'TLSv1.2' },
    { reason: 'tls-handshake-failed', handshakeCompleted: false },
  );
  // OpenSSL on the server side writes this alert itself, as a plaintext record before any keys.
  expectRemoteAlert(t, refused, 'protocol version');
  expectAccept(t, await authenticate(strict, { client: 'client-ec', tls: 'TLSv1.3' }), { rule: 'staff', vlan: 100, sessionTimeout: 3600 });
});
