/**
 * End to end against the real eapol_test (hostapd 2.10, Debian package eapoltest): successful
 * EAP-TLS 1.2 and 1.3 authentications with VLAN assignment, fragmentation in both directions under
 * a small Framed-MTU, EAP-Key-Name, and session resumption with the checks re-run.
 */
import t, { type Test } from 'tap';
import { authenticate, expectAccept, TLS_VERSIONS, type Run } from '../support/eapol-checks.ts';
import { startTestServer } from '../support/test-server.ts';

const s = await startTestServer(t);

/** The default policy's rules, as the Access-Accept must reflect them. */
const STAFF = { rule: 'staff', vlan: 100, sessionTimeout: 3600 } as const;
const STUDENTS = { rule: 'students', vlan: 200 } as const;

/** RFC 5216 §3.1: the More-fragments flag of EAP-TLS. */
const MORE_FRAGMENTS = 0x40;

function roundsOf(run: Run, index = 0): number {
  return Number(run.decisions[index]?.['rounds']);
}

for (const tls of TLS_VERSIONS) {
  t.test(`${tls}, EC client of OU Staff: Access-Accept on VLAN 100 with Session-Timeout 3600`, async (t) => {
    const run = await authenticate(s, { client: 'client-ec', tls });
    expectAccept(t, run, STAFF);
    t.match(
      run.decisions[0],
      { identity: 'device', cert_subject: /OU=Staff, CN=laptop-ec\.portcullis\.test/, cert_issuer: /Portcullis Dev Issuing CA/, tls_resumed: false },
      'the decision line names the certificate',
      run.why,
    );
  });

  t.test(`${tls}, RSA client of OU Students: Access-Accept on VLAN 200, no Session-Timeout`, async (t) => {
    const run = await authenticate(s, { client: 'client-rsa', tls });
    expectAccept(t, run, STUDENTS);
    t.match(run.decisions[0], { cert_subject: /OU=Students/ }, 'the decision line names the RSA certificate', run.why);
  });

  t.test(`${tls}, fragment_size=200 and Framed-MTU 300: both sides fragment, keys still match`, async (t) => {
    const baseline = await authenticate(s, { client: 'client-ec', tls });
    const run = await authenticate(s, {
      client: 'client-ec',
      tls,
      networkLines: ['fragment_size=200'],
      args: ['-N12:d:300'],
    });
    expectAccept(t, run, STAFF);
    const { result, why } = run;
    // eapol_test adds its own Framed-MTU 1400 only when no -N gives attribute 12: -N12 replaces it.
    const sent = result.messages.filter((m) => m.direction === 'sent');
    t.ok(sent.length > 0, 'eapol_test dumped its Access-Requests', why);
    t.same(
      sent.map((m) => m.attributes.filter((a) => a.name === 'Framed-MTU').map((a) => a.value)),
      sent.map(() => ['300']),
      'every Access-Request carries exactly one Framed-MTU, 300',
      why,
    );
    const fragmented = result.eapTlsRequests.filter((r) => (r.flags & MORE_FRAGMENTS) !== 0);
    const baselineFragmented = baseline.result.eapTlsRequests.filter((r) => (r.flags & MORE_FRAGMENTS) !== 0);
    t.ok(fragmented.length >= 3, `the server sent its flights in fragments with M set (${fragmented.length})`, why);
    t.ok(fragmented.length > baselineFragmented.length, `more fragments than at Framed-MTU 1400 (${baselineFragmented.length})`, why);
    const longest = Math.max(...result.eapTlsRequests.map((r) => r.length));
    t.ok(longest <= 300, `every EAP-Request fits the Framed-MTU (longest ${longest})`, why);
    t.ok(result.clientFragmentsSent >= 3, `the supplicant fragmented and the server reassembled (${result.clientFragmentsSent})`, why);
    t.ok(roundsOf(run) >= roundsOf(baseline) + 10, `rounds ${roundsOf(run)} vs ${roundsOf(baseline)} unfragmented`, why);
  });

  t.test(`${tls}, eapol_test -e: the Accept carries EAP-Key-Name equal to the peer's Session-Id`, async (t) => {
    const run = await authenticate(s, { client: 'client-ec', tls, args: ['-e'] });
    expectAccept(t, run, { ...STAFF, keyName: true });
    t.equal(run.result.keyNameMatched, 1, 'eapol_test: locally derived Session-Id matches EAP-Key-Name', run.why);
    // RFC 5216 §2.3 / RFC 9190 §2.3: Session-Id = 0x0D || 64 octets.
    t.match(run.result.lastReplyAttributes.get('EAP-Key-Name'), [/^0d[0-9a-f]{128}$/], 'Session-Id: 0x0D and 64 octets', run.why);
  });
}

/** Three authentications (-r2), the second and third resuming the first. */
function expectResumed(t: Test, run: Run): void {
  expectAccept(t, run, { ...STAFF, count: 3 });
  const { result, decisions } = run;
  const why = run.why;
  // eapol_test prints "Handshake finished - resumed=1" once per resumed TLS 1.2 handshake, twice per TLS 1.3 one.
  t.ok(result.resumedHandshakes >= 2, `eapol_test reports resumed handshakes (${result.resumedHandshakes} lines)`, why);
  t.same(decisions.map((d) => d['tls_resumed']), [false, true, true], 'decision lines: full handshake, then two resumed', why);
  t.equal(new Set(decisions.map((d) => d['cert_serial'])).size, 1, 'the resumed sessions are judged on the same certificate', why);
  t.ok(roundsOf(run, 1) < roundsOf(run, 0), `a resumed conversation is shorter (${roundsOf(run, 1)} < ${roundsOf(run, 0)} rounds)`, why);
}

t.test('TLSv1.3 resumption (-r2): three accepts, two resumed, policy and VLAN applied each time', async (t) => {
  expectResumed(t, await authenticate(s, { client: 'client-ec', tls: 'TLSv1.3', args: ['-r2'] }));
});

t.test('TLSv1.2 ticket resumption (-r2, tls_disable_session_ticket=0): three accepts, two resumed', async (t) => {
  expectResumed(
    t,
    await authenticate(s, { client: 'client-ec', tls: 'TLSv1.2', phase1Extra: 'tls_disable_session_ticket=0', args: ['-r2'] }),
  );
});

t.test('TLSv1.2 session-ID resumption (-r2 with eapol_test defaults: no ticket extension, a 32-byte session id)', async (t) => {
  expectResumed(t, await authenticate(s, { client: 'client-ec', tls: 'TLSv1.2', args: ['-r2'] }));
});
