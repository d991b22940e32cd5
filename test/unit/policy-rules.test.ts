import t from 'tap';
import { parseConfig } from '../../src/config/index.ts';
import type { PolicyConfig } from '../../src/config/index.ts';
import type { CertificateFacts } from '../../src/policy/certificate-facts.ts';
import { DEFAULT_RULE, evaluateRules, ssidOf, type RequestFacts } from '../../src/policy/rules.ts';

/** A whole configuration around `policyYaml` (a block starting with `policy:`), parsed for real. */
function policyOf(policyYaml: string): PolicyConfig {
  const yaml = `
listen:
  - address: 127.0.0.1
tls:
  certificate: /nonexistent/server.pem
  private_key: /nonexistent/server.key
  trust_anchors: [/nonexistent/root.pem]
clients:
  - name: ap-one
    address: 192.0.2.0/24
    secret: a-long-enough-shared-secret
  - name: ap-two
    address: 198.51.100.0/24
    secret: another-long-enough-secret
${policyYaml}`;
  return parseConfig(yaml, 'rules-test.yaml').policy;
}

/** One accepting rule named `hit` with the given `match:` body (indented YAML), reject default. */
function oneRule(match: string): PolicyConfig {
  return policyOf(`
policy:
  rules:
    - name: hit
      match:
${match.replace(/^/gm, '        ')}
      action: accept
  default: { action: reject, reason: no-matching-rule }
`);
}

const certificate: CertificateFacts = {
  subject: { O: ['Example Org'], OU: ['Staff', 'Admins'], CN: ['laptop-17.corp.example.com'] },
  issuer: { O: ['Example Org'], CN: ['Example Issuing CA'] },
  serial: 'A1B2',
  sanEmail: ['alice@example.com', 'a.smith@example.org'],
  sanDns: ['laptop-17.corp.example.com'],
  sanUri: ['urn:device:laptop-17'],
  sanUpn: ['alice@ad.example.com'],
  notBefore: new Date('2025-01-01T00:00:00Z'),
  notAfter: new Date('2030-01-01T00:00:00Z'),
  subjectText: 'O=Example Org, OU=Staff, OU=Admins, CN=laptop-17.corp.example.com',
  issuerText: 'O=Example Org, CN=Example Issuing CA',
};

const request: RequestFacts = {
  clientName: 'ap-one',
  eapIdentity: 'host/laptop-17@corp.example.com',
  nasIdentifier: 'ap-lobby-3',
  calledStationId: 'AA-BB-CC-DD-EE-FF:Corp-WiFi',
  callingStationId: '11-22-33-44-55-66',
};

const decides = (policy: PolicyConfig, cert = certificate, req = request): string => evaluateRules(policy, cert, req).rule;

t.test('ssidOf: the part after the first colon (RFC 3580 §3.20)', async (t) => {
  t.equal(ssidOf('AA-BB-CC-DD-EE-FF:Corp-WiFi'), 'Corp-WiFi');
  t.equal(ssidOf('AA-BB-CC-DD-EE-FF:Corp:Lab'), 'Corp:Lab', 'only the first colon separates');
  t.equal(ssidOf('AA-BB-CC-DD-EE-FF:'), '', 'an empty SSID');
  t.equal(ssidOf('AA-BB-CC-DD-EE-FF'), undefined, 'no colon: no SSID');
  t.equal(ssidOf(undefined), undefined);
});

/** The rules `staff` (OU Staff: accept, VLAN 10) and `admins` (OU Admins: reject), in this order. */
function staffAndAdmins(order: readonly ('staff' | 'admins')[]): PolicyConfig {
  const rules = {
    staff: '{ name: staff, match: { cert_subject: { OU: Staff } }, action: accept, vlan: 10 }',
    admins: '{ name: admins, match: { cert_subject: { OU: Admins } }, action: reject, reason: admins-elsewhere }',
  };
  return policyOf(`policy:\n  rules: [${order.map((name) => rules[name]).join(', ')}]\n  default: { action: reject, reason: closed }\n`);
}

t.test('first matching rule wins, in configuration order', async (t) => {
  // The certificate has OU Staff and OU Admins: both rules match it.
  t.same(evaluateRules(staffAndAdmins(['staff', 'admins']), certificate, request), {
    rule: 'staff',
    decision: { action: 'accept', vlan: '10', reply: {} },
  });
  const adminsFirst = staffAndAdmins(['admins', 'staff']);
  t.same(evaluateRules(adminsFirst, certificate, request), {
    rule: 'admins',
    decision: { action: 'reject', reason: 'admins-elsewhere' },
  });
  t.equal(decides(adminsFirst, { ...certificate, subject: { OU: ['Staff'] } }), 'staff', 'a later rule decides when earlier ones fail');
});

t.test('an empty or absent match matches every request', async (t) => {
  const policy = policyOf(`
policy:
  rules:
    - name: no-match-key
      action: accept
  default: { action: reject, reason: no-matching-rule }
`);
  const bare: CertificateFacts = { ...certificate, subject: {}, issuer: {}, sanEmail: [], sanDns: [], sanUri: [], sanUpn: [] };
  const quiet: RequestFacts = { ...request, nasIdentifier: undefined, calledStationId: undefined };
  t.equal(decides(policy, bare, quiet), 'no-match-key');
  t.equal(decides(oneRule('{}'), bare, quiet), 'hit');
});

t.test('the default decides when no rule matches, under the name "default"', async (t) => {
  t.equal(DEFAULT_RULE, 'default');
  const rejecting = oneRule('cert_subject: { OU: Guests }');
  t.same(evaluateRules(rejecting, certificate, request), {
    rule: 'default',
    decision: { action: 'reject', reason: 'no-matching-rule' },
  });
  const accepting = policyOf(`
policy:
  rules:
    - name: guests
      match: { cert_subject: { OU: Guests } }
      action: reject
      reason: guests-not-here
  default:
    action: accept
    vlan: guest-net
    reply: { session_timeout: 600 }
`);
  t.same(evaluateRules(accepting, certificate, request), {
    rule: 'default',
    decision: { action: 'accept', vlan: 'guest-net', reply: { sessionTimeout: 600 } },
  });
  const none = policyOf('policy:\n  default: { action: reject, reason: closed }\n');
  t.same(evaluateRules(none, certificate, request).decision, { action: 'reject', reason: 'closed' }, 'no rules at all');
});

/**
 * Each field with each matcher kind. `yes` and `no` are YAML matcher values (flow style) that do
 * and do not match the facts above; `field` is the YAML key path inside `match:`.
 */
const fieldCases: { field: string; kinds: Record<'exact' | 'prefix' | 'suffix' | 'regex', [yes: string, no: string]> }[] = [
  {
    field: 'cert_subject.CN',
    kinds: {
      exact: ['laptop-17.corp.example.com', 'laptop-17'],
      prefix: ['{ prefix: laptop- }', '{ prefix: server- }'],
      suffix: ['{ suffix: .corp.example.com }', '{ suffix: .example.net }'],
      regex: ["{ regex: '^laptop-\\d+\\.corp\\.' }", "{ regex: '^laptop-[a-z]+\\.' }"],
    },
  },
  {
    // The certificate has OU=Staff and OU=Admins: any value of a repeated attribute may match.
    field: 'cert_subject.OU',
    kinds: {
      exact: ['Admins', 'Students'],
      prefix: ['{ prefix: Adm }', '{ prefix: Stu }'],
      suffix: ['{ suffix: ff }', '{ suffix: ents }'],
      regex: ["{ regex: '^admins$', flags: i }", "{ regex: '^Staff-' }"],
    },
  },
  {
    field: 'cert_issuer.CN',
    kinds: {
      exact: ['Example Issuing CA', 'Example Root CA'],
      prefix: ['{ prefix: Example Iss }', '{ prefix: Other }'],
      suffix: ['{ suffix: Issuing CA }', '{ suffix: Root CA }'],
      regex: ["{ regex: 'Issuing' }", "{ regex: '^Issuing' }"],
    },
  },
  {
    field: 'cert_issuer.O',
    kinds: {
      exact: ['Example Org', 'example org'],
      prefix: ['{ prefix: Exa }', '{ prefix: exa }'],
      suffix: ['{ suffix: Org }', '{ suffix: Inc }'],
      regex: ["{ regex: '^example org$', flags: i }", "{ regex: '^example org$' }"],
    },
  },
  {
    field: 'san_email',
    kinds: {
      exact: ['a.smith@example.org', 'smith@example.org'],
      prefix: ['{ prefix: alice@ }', '{ prefix: bob@ }'],
      suffix: ["{ suffix: '@example.org' }", "{ suffix: '@example.net' }"],
      regex: ["{ regex: '^[a-z.]+@example\\.com$' }", "{ regex: '^[0-9]+@' }"],
    },
  },
  {
    field: 'san_dns',
    kinds: {
      exact: ['laptop-17.corp.example.com', 'corp.example.com'],
      prefix: ['{ prefix: laptop- }', '{ prefix: desktop- }'],
      suffix: ['{ suffix: .example.com }', '{ suffix: .example.org }'],
      regex: ["{ regex: '\\.corp\\.' }", "{ regex: '\\.lab\\.' }"],
    },
  },
  {
    field: 'san_uri',
    kinds: {
      exact: ['urn:device:laptop-17', 'urn:device:laptop'],
      prefix: ["{ prefix: 'urn:device:' }", "{ prefix: 'urn:user:' }"],
      suffix: ["{ suffix: '-17' }", "{ suffix: '-18' }"],
      regex: ["{ regex: '^urn:device:laptop-\\d+$' }", "{ regex: '^https?:' }"],
    },
  },
  {
    field: 'san_upn',
    kinds: {
      exact: ['alice@ad.example.com', 'Alice@ad.example.com'],
      prefix: ['{ prefix: alice@ }', '{ prefix: bob@ }'],
      suffix: ["{ suffix: '@ad.example.com' }", "{ suffix: '@example.com.evil' }"],
      regex: ["{ regex: '^ALICE@', flags: i }", "{ regex: '^ALICE@' }"],
    },
  },
  {
    field: 'eap_identity',
    kinds: {
      exact: ['host/laptop-17@corp.example.com', 'anonymous@corp.example.com'],
      prefix: ['{ prefix: host/ }', '{ prefix: user/ }'],
      suffix: ["{ suffix: '@corp.example.com' }", "{ suffix: '@guests.example.com' }"],
      regex: ["{ regex: '^host/[^@]+@corp' }", "{ regex: '^anonymous@' }"],
    },
  },
  {
    field: 'nas_identifier',
    kinds: {
      exact: ['ap-lobby-3', 'ap-lobby'],
      prefix: ['{ prefix: ap- }', '{ prefix: sw- }'],
      suffix: ["{ suffix: '-3' }", "{ suffix: '-4' }"],
      regex: ["{ regex: 'lobby' }", "{ regex: 'cellar' }"],
    },
  },
  {
    field: 'called_station_id',
    kinds: {
      exact: ['AA-BB-CC-DD-EE-FF:Corp-WiFi', 'AA-BB-CC-DD-EE-FF'],
      prefix: ["{ prefix: 'AA-BB-CC-' }", "{ prefix: '00-11-' }"],
      suffix: ["{ suffix: ':Corp-WiFi' }", "{ suffix: ':Guest' }"],
      regex: ["{ regex: '^([0-9A-F]{2}-){5}[0-9A-F]{2}:' }", "{ regex: '^([0-9a-f]{2}:){5}' }"],
    },
  },
  {
    field: 'ssid',
    kinds: {
      exact: ['Corp-WiFi', 'AA-BB-CC-DD-EE-FF:Corp-WiFi'],
      prefix: ['{ prefix: Corp }', "{ prefix: 'AA-' }"],
      suffix: ['{ suffix: -WiFi }', '{ suffix: -Guest }'],
      regex: ["{ regex: '^corp-wifi$', flags: i }", "{ regex: '^corp-wifi$' }"],
    },
  },
];

/** `match:` YAML that puts `value` at the dotted `field` path. */
function condition(field: string, value: string): string {
  const [outer, inner] = field.split('.');
  return inner === undefined ? `${outer}: ${value}` : `${outer}: { ${inner}: ${value} }`;
}

t.test('each matcher kind on each field', async (t) => {
  for (const { field, kinds } of fieldCases) {
    for (const [kind, [yes, no]] of Object.entries(kinds)) {
      const matching = oneRule(condition(field, yes));
      const compiled = JSON.stringify(matching.rules[0]?.match).includes(`"kind":"${kind}"`);
      t.ok(compiled, `${field} ${yes} compiles to a ${kind} matcher`);
      t.equal(decides(matching), 'hit', `${field} ${kind} ${yes} matches`);
      t.equal(decides(oneRule(condition(field, no))), DEFAULT_RULE, `${field} ${kind} ${no} does not match`);
      t.equal(decides(oneRule(condition(field, `[${no}, ${yes}]`))), 'hit', `${field}: a list matches when any item does`);
    }
  }
});

t.test('cert_serial: exact, normalised on both sides, any of a list', async (t) => {
  t.equal(decides(oneRule("cert_serial: '00:a1:B2'")), 'hit');
  t.equal(decides(oneRule("cert_serial: ['0F', 'a1b2']")), 'hit');
  t.equal(decides(oneRule("cert_serial: 'A1B'")), DEFAULT_RULE, 'no prefix matching on serials');
  t.equal(decides(oneRule("cert_serial: '1A1B2'")), DEFAULT_RULE);
});

t.test('client: the NAS client name, any of a list', async (t) => {
  t.equal(decides(oneRule('client: ap-one')), 'hit');
  t.equal(decides(oneRule('client: [ap-two, ap-one]')), 'hit');
  t.equal(decides(oneRule('client: ap-two')), DEFAULT_RULE);
  t.equal(decides(oneRule('client: ap-two'), certificate, { ...request, clientName: 'ap-two' }), 'hit');
});

t.test('conditions are ANDed: every one present must hold', async (t) => {
  const both = 'cert_subject: { OU: Staff }\nssid: Corp-WiFi';
  t.equal(decides(oneRule(both)), 'hit');
  t.equal(decides(oneRule('cert_subject: { OU: Staff }\nssid: Guest')), DEFAULT_RULE, 'first holds, second fails');
  t.equal(decides(oneRule('cert_subject: { OU: Guests }\nssid: Corp-WiFi')), DEFAULT_RULE, 'first fails, second holds');
  // Within one name condition, each listed attribute must match.
  t.equal(decides(oneRule('cert_subject: { O: Example Org, OU: Admins }')), 'hit');
  t.equal(decides(oneRule('cert_subject: { O: Other Org, OU: Admins }')), DEFAULT_RULE);
  // [condition, holds, fails]: all of them together, then each one alone turned false.
  const conditions: [string, string][] = [
    ['cert_subject: { CN: { suffix: .corp.example.com }, OU: Staff, O: Example Org }', 'cert_subject: { CN: { suffix: .corp.example.com }, OU: Staff, O: Other }'],
    ['cert_issuer: { CN: Example Issuing CA }', 'cert_issuer: { CN: Example Root CA }'],
    ["cert_serial: 'a1b2'", "cert_serial: 'ffff'"],
    ["san_email: { suffix: '@example.com' }", "san_email: { suffix: '@example.net' }"],
    ['san_dns: laptop-17.corp.example.com', 'san_dns: laptop-18.corp.example.com'],
    ["san_uri: { prefix: 'urn:device:' }", "san_uri: { prefix: 'urn:user:' }"],
    ['san_upn: alice@ad.example.com', 'san_upn: bob@ad.example.com'],
    ['eap_identity: { prefix: host/ }', 'eap_identity: { prefix: user/ }'],
    ['client: ap-one', 'client: ap-two'],
    ['nas_identifier: ap-lobby-3', 'nas_identifier: ap-lobby-4'],
    ["called_station_id: { prefix: 'AA-BB' }", "called_station_id: { prefix: 'BB-AA' }"],
    ['ssid: Corp-WiFi', 'ssid: Guest-WiFi'],
  ];
  t.equal(decides(oneRule(conditions.map(([holds]) => holds).join('\n'))), 'hit', 'all twelve conditions together');
  for (const [i, [, fails]] of conditions.entries()) {
    const yaml = conditions.map(([holds], k) => (k === i ? fails : holds)).join('\n');
    t.equal(decides(oneRule(yaml)), DEFAULT_RULE, `only ${fails} false: the rule fails`);
  }
});

t.test('matching is case-sensitive unless a regex has the i flag; regexes are unanchored', async (t) => {
  t.equal(decides(oneRule('cert_subject: { OU: staff }')), DEFAULT_RULE);
  t.equal(decides(oneRule('cert_subject: { OU: { prefix: STA } }')), DEFAULT_RULE);
  t.equal(decides(oneRule("cert_subject: { OU: { regex: 'TAF', flags: i } }")), 'hit');
  t.equal(decides(oneRule("san_email: { regex: 'example' }")), 'hit', 'matches in the middle');
  t.equal(decides(oneRule("san_email: { regex: '^example' }")), DEFAULT_RULE);
});

t.test('absent facts fail a condition that names them', async (t) => {
  const noNas: RequestFacts = { ...request, nasIdentifier: undefined, calledStationId: undefined };
  t.equal(decides(oneRule("nas_identifier: { regex: '.*' }"), certificate, noNas), DEFAULT_RULE, 'no NAS-Identifier');
  t.equal(decides(oneRule("called_station_id: { regex: '.*' }"), certificate, noNas), DEFAULT_RULE, 'no Called-Station-Id');
  t.equal(decides(oneRule("ssid: { regex: '.*' }"), certificate, noNas), DEFAULT_RULE, 'no Called-Station-Id, no SSID');
  const noSsid: RequestFacts = { ...request, calledStationId: 'AA-BB-CC-DD-EE-FF' };
  t.equal(decides(oneRule("ssid: { regex: '.*' }"), certificate, noSsid), DEFAULT_RULE, 'a Called-Station-Id without SSID');
  t.equal(decides(oneRule("called_station_id: { regex: '.*' }"), certificate, noSsid), 'hit');

  const bare: CertificateFacts = { ...certificate, subject: { CN: ['x'] }, issuer: {}, sanEmail: [], sanDns: [], sanUri: [], sanUpn: [] };
  for (const yaml of [
    "cert_subject: { OU: { regex: '.*' } }",
    "cert_issuer: { CN: { regex: '.*' } }",
    "san_email: { regex: '.*' }",
    "san_dns: { regex: '.*' }",
    "san_uri: { regex: '.*' }",
    "san_upn: { regex: '.*' }",
  ]) {
    t.equal(decides(oneRule(yaml)), 'hit', `${yaml} holds on the full certificate`);
    t.equal(decides(oneRule(yaml), bare), DEFAULT_RULE, `${yaml} fails on a certificate without the field`);
  }
  t.equal(decides(oneRule("cert_subject: { CN: x, OU: { regex: '.*' } }"), bare), DEFAULT_RULE, 'one absent attribute fails the name');
});
