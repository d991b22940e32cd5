import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { ensureDevPki, type DevClientName } from '../../src/pki/dev-pki.ts';
import type { PeerCertificates } from '../../src/policy/certificate-check.ts';
import { certificateFacts } from '../../src/policy/certificate-facts.ts';
import { CrlSet } from '../../src/policy/crl-set.ts';
import { AccessPolicy } from '../../src/policy/decide.ts';
import type { RequestFacts } from '../../src/policy/rules.ts';
import { liveCheckers } from '../support/live-checks.ts';

const { paths: pki } = await ensureDevPki(join(tmpdir(), 'portcullis-test-pki'));
const read = (file: string): X509Certificate => new X509Certificate(readFileSync(file));
const root = read(pki.root.cert);
const intermediate = read(pki.intermediate.cert);
const crls = await CrlSet.load(
  [pki.rootCrl, pki.intermediateCrl].map((path) => ({ path, data: readFileSync(path) })),
  [root, intermediate],
);

/** The peer as the TLS engine reports a chain OpenSSL verified (or refused with `error`). */
function peer(name: DevClientName, error?: string): PeerCertificates {
  return { chainVerified: error === undefined, verificationError: error, peerChain: [read(pki.clients[name].leaf), intermediate, root] };
}

const config = parseConfig(
  `
listen: [{ address: 127.0.0.1 }]
tls: { certificate: s.pem, private_key: s.key, trust_anchors: [r.pem] }
clients: [{ name: ap, address: 192.0.2.0/24, secret: a-long-enough-shared-secret }]
policy:
  rules:
    - name: guests
      match: { cert_subject: { OU: Guests } }
      action: reject
      reason: guests-use-the-portal
    - name: staff
      match: { cert_subject: { OU: Staff }, ssid: Corp }
      action: accept
      vlan: 100
      reply: { session_timeout: 3600, reply_message: Welcome, filter_id: staff-acl }
    - name: staff-elsewhere
      match: { cert_subject: { OU: Staff } }
      action: accept
  default: { action: reject, reason: no-matching-rule }
`,
  'decide-test.yaml',
);

const policy = new AccessPolicy(config.policy, {
  requireClientAuthEku: true,
  crls,
}, liveCheckers(config));

const request: RequestFacts = {
  clientName: 'ap',
  eapIdentity: 'anonymous@portcullis.test',
  nasIdentifier: 'ap-1',
  calledStationId: 'AA-BB-CC-DD-EE-FF:Corp',
  callingStationId: '11-22-33-44-55-66',
};
const now = new Date();
const facts = (name: DevClientName) => certificateFacts(read(pki.clients[name].leaf));

/** What the live checks report when no revocation profile and no identity lookup is configured. */
const NO_LIVE_CHECKS = { revocation: undefined, identity: [] };

t.test('accept carries the VLAN and the reply attributes of the rule', async (t) => {
  t.same(await policy.decide(peer('client-ec'), request, now), {
    outcome: 'accept',
    rule: 'staff',
    vlan: '100',
    reply: { sessionTimeout: 3600, replyMessage: 'Welcome', filterId: 'staff-acl' },
    certificate: facts('client-ec'),
    checks: NO_LIVE_CHECKS,
  });
  t.same(await policy.decide(peer('client-ec'), { ...request, calledStationId: 'AA-BB-CC-DD-EE-FF:Lab' }, now), {
    outcome: 'accept',
    rule: 'staff-elsewhere',
    vlan: undefined,
    reply: {},
    certificate: facts('client-ec'),
    checks: NO_LIVE_CHECKS,
  }, 'the request facts reach the rules: another SSID, another rule, no VLAN');
});

/** The decision when `rule` rejects `name`'s good certificate with `reason`. */
function ruleRejection(name: DevClientName, rule: string, reason: string) {
  return { outcome: 'reject', rule, reason, certificateRejection: undefined, detail: undefined, certificate: facts(name), checks: NO_LIVE_CHECKS };
}

t.test('a rejecting rule gives its reason', async (t) => {
  t.same(await policy.decide(peer('client-guest'), request, now), ruleRejection('client-guest', 'guests', 'guests-use-the-portal'));
});

t.test('no rule matches: the default rejects', async (t) => {
  t.same(await policy.decide(peer('client-rsa'), request, now), ruleRejection('client-rsa', 'default', 'no-matching-rule'));
});

t.test('a certificate rejection wins over the rules', async (t) => {
  // client-revoked and client-noeku have OU Staff: the rules alone would accept them.
  const revoked = await policy.decide(peer('client-revoked'), request, now);
  t.match(revoked, {
    outcome: 'reject',
    rule: undefined,
    reason: 'certificate-revoked',
    certificateRejection: 'certificate-revoked',
    detail: /is on the CRL of/,
    certificate: facts('client-revoked'),
  });
  t.match(await policy.decide(peer('client-noeku', 'INVALID_PURPOSE'), request, now), {
    outcome: 'reject',
    reason: 'missing-client-auth-eku',
    certificateRejection: 'missing-client-auth-eku',
    detail: 'chain verification: INVALID_PURPOSE',
  });
  t.match(await policy.decide(peer('client-expired', 'CERT_HAS_EXPIRED'), request, now), {
    outcome: 'reject',
    reason: 'certificate-expired',
    certificateRejection: 'certificate-expired',
  });
  t.same(await policy.decide({ chainVerified: false, verificationError: undefined, peerChain: [] }, request, now), {
    outcome: 'reject',
    rule: undefined,
    reason: 'no-client-certificate',
    certificateRejection: 'no-client-certificate',
    detail: 'the peer sent no certificate',
    certificate: undefined,
  });

  // RFC 5280 §4.2.1.12: an EKU without clientAuth forbids client authentication, whatever the setting.
  const ekuOptional = new AccessPolicy(config.policy, { requireClientAuthEku: false, crls }, liveCheckers(config));
  t.match(await ekuOptional.decide(peer('client-noeku', 'INVALID_PURPOSE'), request, now), {
    outcome: 'reject',
    rule: undefined,
    reason: 'missing-client-auth-eku',
    detail: 'chain verification: INVALID_PURPOSE',
  }, 'EKU not required: the purpose error still refuses');
  t.match(await ekuOptional.decide(peer('client-ec'), request, now), { outcome: 'accept', rule: 'staff' }, 'EKU not required: a good certificate goes to the rules');
});

t.test('an accepting default accepts what no rule matched', async (t) => {
  const open = parseConfig(
    `
listen: [{ address: 127.0.0.1 }]
tls: { certificate: s.pem, private_key: s.key, trust_anchors: [r.pem] }
clients: [{ name: ap, address: 192.0.2.0/24, secret: a-long-enough-shared-secret }]
policy:
  default: { action: accept, vlan: guests }
`,
    'open.yaml',
  );
  const openPolicy = new AccessPolicy(open.policy, { requireClientAuthEku: true, crls }, liveCheckers(open));
  t.match(await openPolicy.decide(peer('client-rsa'), request, now), { outcome: 'accept', rule: 'default', vlan: 'guests', reply: {} });
  t.match(await openPolicy.decide(peer('client-revoked'), request, now), { outcome: 'reject', reason: 'certificate-revoked' }, 'never for a bad certificate');
});
