/**
 * End to end against the real eapol_test: a custom policy whose rules match on the SSID (from
 * Called-Station-Id), the EAP identity, SAN rfc822Name, SAN UPN and the certificate serial, each
 * selecting its own VLAN; rule order decides when several rules hold.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { authenticate, expectAccept, type Attempt, type Run } from '../support/eapol-checks.ts';
import { startTestServer, testPki } from '../support/test-server.ts';

const pki = await testPki();
const rsaSerial = new X509Certificate(await readFile(pki.clients['client-rsa'].leaf)).serialNumber;
// Written with colons, lower case and a leading zero: the schema normalises all three.
const rsaSerialInYaml = `00:${(rsaSerial.toLowerCase().match(/../g) ?? []).join(':')}`;

const s = await startTestServer(t, {
  policyYaml: `
policy:
  rules:
    - name: eduroam
      match:
        ssid: eduroam
      action: accept
      vlan: 301
    - name: lab-identity
      match:
        eap_identity: { suffix: "@lab.portcullis.test" }
      action: accept
      vlan: 302
      reply: { reply_message: "welcome to the lab", filter_id: lab-acl }
    - name: rsa-by-serial
      match:
        cert_serial: "${rsaSerialInYaml}"
      action: accept
      vlan: 303
    - name: guest-email
      match:
        san_email: { regex: '^guest@portcullis\\.test$' }
      action: accept
      vlan: guests
    - name: alice-upn
      match:
        san_upn: { prefix: "alice@" }
      action: accept
      vlan: 305
  default:
    action: reject
    reason: no-matching-rule
`,
});

/** The Called-Station-Id values of the Access-Requests eapol_test sent. */
function calledStationIds(run: Run): string[] {
  return run.result.messages
    .filter((m) => m.direction === 'sent')
    .flatMap((m) => m.attributes.filter((a) => a.name === 'Called-Station-Id').map((a) => a.value));
}

/** `-N30:s:...`: eapol_test sends no Called-Station-Id of its own; this adds one to every request. */
function calledStation(value: string): Pick<Attempt, 'args'> {
  return { args: [`-N30:s:${value}`] };
}

t.test('san_upn { prefix }: the EC client (UPN alice@ad.portcullis.test) lands on VLAN 305', async (t) => {
  const run = await authenticate(s, { client: 'client-ec', tls: 'TLSv1.3' });
  expectAccept(t, run, { rule: 'alice-upn', vlan: 305 });
  t.same(calledStationIds(run), [], 'eapol_test sends no Called-Station-Id by default, so no ssid rule can hold', run.why);
});

t.test('ssid: Called-Station-Id "aa-bb-cc-dd-ee-ff:eduroam" selects VLAN 301, before the UPN rule', async (t) => {
  const run = await authenticate(s, { client: 'client-ec', tls: 'TLSv1.2', ...calledStation('aa-bb-cc-dd-ee-ff:eduroam') });
  expectAccept(t, run, { rule: 'eduroam', vlan: 301 });
  t.ok(calledStationIds(run).length > 0, 'every Access-Request carried the Called-Station-Id', run.why);
  t.ok(new Set(calledStationIds(run)).size === 1, 'one value, colons and all', { ids: calledStationIds(run), ...run.why });
  t.equal(run.decisions[0]?.['called_station_id'], 'aa-bb-cc-dd-ee-ff:eduroam', 'the decision line records it', run.why);
});

t.test('ssid is an exact match: "eduroam-guest" does not hold, the UPN rule decides', async (t) => {
  const run = await authenticate(s, { client: 'client-ec', tls: 'TLSv1.3', ...calledStation('aa-bb-cc-dd-ee-ff:eduroam-guest') });
  expectAccept(t, run, { rule: 'alice-upn', vlan: 305 });
});

t.test('eap_identity { suffix }: identity alice@lab.portcullis.test selects VLAN 302 and its reply attributes', async (t) => {
  const run = await authenticate(s, { client: 'client-ec', tls: 'TLSv1.2', identity: 'alice@lab.portcullis.test' });
  expectAccept(t, run, { rule: 'lab-identity', vlan: 302 });
  t.equal(run.result.replyMessage, 'welcome to the lab', 'Reply-Message from the rule', run.why);
  // eapol_test's dictionary lacks Filter-Id (11): it prints "?Unknown?" without the value.
  const accept = run.result.messages.at(-1)?.attributes ?? [];
  t.same(
    accept.filter((a) => a.type === 11).map((a) => a.length),
    [2 + 'lab-acl'.length],
    'Filter-Id "lab-acl" from the rule (type 11, length 9)',
    run.why,
  );
  t.equal(run.decisions[0]?.['identity'], 'alice@lab.portcullis.test', 'the decision line records the identity', run.why);
});

t.test('cert_serial: the RSA client is picked by its serial (VLAN 303), not by its OU', async (t) => {
  const run = await authenticate(s, { client: 'client-rsa', tls: 'TLSv1.3' });
  expectAccept(t, run, { rule: 'rsa-by-serial', vlan: 303 });
  t.equal(run.decisions[0]?.['cert_serial'], rsaSerial, 'the decision line records the serial', run.why);
});

t.test('san_email { regex }: the guest client (guest@portcullis.test) lands on the VLAN named "guests"', async (t) => {
  const run = await authenticate(s, { client: 'client-guest', tls: 'TLSv1.2' });
  expectAccept(t, run, { rule: 'guest-email', vlan: 'guests' });
});
