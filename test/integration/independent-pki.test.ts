/**
 * The eapol_test table on a PKI made only with the openssl CLI (test/support/openssl-pki.ts):
 * TLS 1.2 and 1.3, RSA and EC, fragmentation, EAP-Key-Name, VLAN by OU, and the refusals.
 */
import t, { type Test } from 'tap';
import { ENABLE_TLS13, ONLY_TLS12, runEapolTest, type EapolTestResult } from '../support/eapol-test.ts';
import { buildOpensslPki, type OpensslClient } from '../support/openssl-pki.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const pki = buildOpensslPki();

const POLICY = `
policy:
  rules:
    - name: engineering
      match:
        cert_subject: { O: Independent Test, OU: Engineering }
      action: accept
      vlan: 10
    - name: sales
      match:
        cert_subject: { OU: Sales }
      action: accept
      vlan: 20
  default:
    action: reject
    reason: no-matching-rule
`;

const PKI_WITH_INTERMEDIATE = `  certificate: ${pki.serverChain}
  private_key: ${pki.serverKey}
  trust_anchors: [${pki.rootCert}]
  intermediates: [${pki.intermediateCert}]
  crl_files: [${pki.intermediateCrl}]`;

const PKI_ROOT_ONLY = `  certificate: ${pki.serverChain}
  private_key: ${pki.serverKey}
  trust_anchors: [${pki.rootCert}]`;

const VERSIONS = [
  { name: 'TLS 1.2', phase1: ONLY_TLS12, version: 'TLSv1.2' },
  { name: 'TLS 1.3', phase1: ENABLE_TLS13, version: 'TLSv1.3' },
] as const;

function hex(text: string): string {
  return Buffer.from(text).toString('hex');
}

async function authenticate(server: TestServer, client: OpensslClient, certFile: 'leaf' | 'chain', phase1: string, extra: { args?: string[]; networkLines?: string[] } = {}): Promise<EapolTestResult> {
  return runEapolTest({
    port: server.port,
    secret: server.secret,
    clientCert: client[certFile],
    privateKey: client.key,
    caCert: pki.rootCert,
    phase1,
    ...extra,
  });
}

function expectAccept(t: Test, result: EapolTestResult, vlan: string, version: string): void {
  t.ok(result.success, `SUCCESS${result.success ? '' : `\n${result.output.slice(-2500)}`}`);
  t.equal(result.lastReplyCode, 'Access-Accept');
  t.equal(result.mppeOk, 1, 'MPPE keys OK');
  t.equal(result.mppeMismatch, 0);
  t.same(result.lastReplyAttributes.get('Tunnel-Type'), ['0000000d'], 'Tunnel-Type VLAN');
  t.same(result.lastReplyAttributes.get('Tunnel-Medium-Type'), ['00000006'], 'Tunnel-Medium-Type 802');
  t.same(result.lastReplyAttributes.get('Tunnel-Private-Group-Id'), [hex(vlan)], `VLAN ${vlan}`);
  t.ok(result.tlsVersions.length > 0 && result.tlsVersions.every((v) => v === version), `negotiated ${version}`);
}

function expectReject(t: Test, server: TestServer, result: EapolTestResult, reasons: readonly string[]): void {
  t.notOk(result.success, 'FAILURE');
  t.equal(result.lastReplyCode, 'Access-Reject');
  const last = server.decisions().at(-1);
  t.equal(last?.['outcome'], 'reject');
  t.ok(reasons.includes(String(last?.['reason'])), `reason ${String(last?.['reason'])} is one of ${reasons.join(', ')}`);
}

t.test('server with the intermediate configured; clients send only their leaf', async (t) => {
  const server = await startTestServer(t, { pkiYaml: PKI_WITH_INTERMEDIATE, policyYaml: POLICY });
  for (const v of VERSIONS) {
    t.test(`${v.name}: EC client in OU Engineering gets VLAN 10 and EAP-Key-Name`, async (t) => {
      const result = await authenticate(server, pki.clients['engineering-ec'], 'leaf', v.phase1, { args: ['-e'] });
      expectAccept(t, result, '10', v.version);
      t.equal(result.keyNameMatched, 1, 'EAP-Key-Name matches the peer Session-Id');
    });
    t.test(`${v.name}: RSA client in OU Sales gets VLAN 20`, async (t) => {
      expectAccept(t, await authenticate(server, pki.clients['sales-rsa'], 'leaf', v.phase1), '20', v.version);
    });
    t.test(`${v.name}: small fragments both ways (fragment_size=200, Framed-MTU 300)`, async (t) => {
      const result = await authenticate(server, pki.clients['sales-rsa'], 'leaf', v.phase1, {
        networkLines: ['fragment_size=200'],
        args: ['-N12:d:300'],
      });
      expectAccept(t, result, '20', v.version);
    });
    t.test(`${v.name}: a client revoked on the CRL of openssl ca -gencrl is rejected`, async (t) => {
      expectReject(t, server, await authenticate(server, pki.clients.revoked, 'leaf', v.phase1), ['certificate-revoked']);
    });
    t.test(`${v.name}: an expired client is rejected`, async (t) => {
      expectReject(t, server, await authenticate(server, pki.clients.expired, 'leaf', v.phase1), ['certificate-expired']);
    });
    t.test(`${v.name}: a client of an unrelated CA with a look-alike issuer name is rejected`, async (t) => {
      expectReject(t, server, await authenticate(server, pki.clients.outsider, 'chain', v.phase1), ['untrusted-issuer', 'certificate-invalid']);
    });
  }
  t.test('the refusals are counted by reason', async (t) => {
    t.equal(await server.metric('portcullis_authentications_total', { outcome: 'reject', reason: 'certificate-revoked' }), 2);
    t.equal(await server.metric('portcullis_authentications_total', { outcome: 'reject', reason: 'certificate-expired' }), 2);
  });
});

t.test('server with only the root configured builds the path from the intermediate the peer sends', async (t) => {
  const server = await startTestServer(t, { pkiYaml: PKI_ROOT_ONLY, policyYaml: POLICY });
  for (const v of VERSIONS) {
    t.test(`${v.name}: client sending leaf + intermediate is accepted`, async (t) => {
      expectAccept(t, await authenticate(server, pki.clients['engineering-ec'], 'chain', v.phase1), '10', v.version);
    });
    t.test(`${v.name}: client sending only its leaf cannot be chained and is rejected`, async (t) => {
      expectReject(t, server, await authenticate(server, pki.clients['engineering-ec'], 'leaf', v.phase1), ['untrusted-issuer']);
    });
  }
});
