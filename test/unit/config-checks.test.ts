/**
 * The `revocation` and `identity` sections and the rules' `identity` condition: defaults,
 * cross-references checked with file, line and YAML path, and provider secrets redacted.
 */
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.ts';
import { parseConfig, redactConfig } from '../../src/config/index.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const minimal = readFileSync(join(repo, 'test/fixtures/config/minimal.yaml'), 'utf8');
const FILE = 'portcullis.yaml';
const OPTIONS = { baseDir: '/etc/portcullis' };

const ENTRA = `
identity:
  providers:
    - name: corp
      type: entra
      tenant_id: contoso.onmicrosoft.com
      client_id: 0000-app
      client_secret: graph-client-secret-value
  lookups:
    - name: staff
      provider: corp
      key: san_upn
`;

function problemsOf(t: Test, text: string): readonly string[] {
  try {
    parseConfig(text, FILE, OPTIONS);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  t.fail('expected a ConfigError');
  return [];
}

function lineOf(text: string, marker: string): number {
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`marker not found: ${marker}`);
  return text.slice(0, at).split('\n').length;
}

function expectProblem(t: Test, text: string, marker: string, path: string, message: RegExp): void {
  const problems = problemsOf(t, text);
  const prefix = `${FILE}:${lineOf(text, marker)} ${path}: `;
  t.ok(
    problems.some((problem) => problem.startsWith(prefix) && message.test(problem.slice(prefix.length))),
    `${prefix}${String(message)}\n  got:\n  ${problems.join('\n  ')}`,
  );
}

t.test('defaults: no live checks, and the client settings filled in', async (t) => {
  const c = parseConfig(minimal, FILE, OPTIONS);
  t.same(c.revocation.profiles, []);
  t.same(c.identity, { providers: [], lookups: [] });
  t.match(c.revocation.ocsp, { timeoutMs: 2000, nonce: true, clockSkewSeconds: 300, maxAgeSeconds: 3600, failureCooldownSeconds: 30 });
  t.match(c.revocation.crl, { timeoutMs: 5000, refreshMarginSeconds: 600, maxAgeSeconds: 86400 });
});

t.test('a profile and a lookup with their defaults', async (t) => {
  const text = `${minimal}
revocation:
  profiles:
    - trust_anchors: [pki/root-ca.pem]
      check: ocsp
${ENTRA}`;
  const c = parseConfig(text, FILE, OPTIONS);
  t.same(c.revocation.profiles[0], {
    trustAnchors: ['/etc/portcullis/pki/root-ca.pem'],
    check: 'ocsp',
    onUnavailable: 'reject',
    onUnknown: 'reject',
    onStaleCrl: 'reject',
    crlUrls: [],
    crlDistributionPoints: true,
  }, 'hard-fail by default, relative anchors resolved');
  t.match(c.identity.providers[0], {
    type: 'entra',
    loginUrl: 'https://login.microsoftonline.com',
    graphUrl: 'https://graph.microsoft.com',
    onUnavailable: 'reject',
    cacheTtlSeconds: 300,
    negativeCacheTtlSeconds: 60,
  });
  t.same(c.identity.lookups[0], { name: 'staff', provider: 'corp', kind: 'user', key: 'san_upn', onNotFound: 'reject' });
  const redacted = JSON.stringify(redactConfig(c));
  t.notOk(redacted.includes('graph-client-secret-value'), 'the client secret is redacted');
});

t.test('webhook headers are secrets; Okta takes exactly one way to authenticate', async (t) => {
  const webhook = `${minimal}
identity:
  providers:
    - name: hr
      type: webhook
      url: https://hr.example.org/radius
      headers: { Authorization: Bearer hr-webhook-token }
`;
  const c = parseConfig(webhook, FILE, OPTIONS);
  t.match(c.identity.providers[0], { type: 'webhook', headers: { Authorization: 'Bearer hr-webhook-token' } });
  t.notOk(JSON.stringify(redactConfig(c)).includes('hr-webhook-token'), 'header values are redacted');
  const okta = `${minimal}
identity:
  providers:
    - name: okta
      type: okta
      org_url: https://example.okta.com
`;
  expectProblem(t, okta, '- name: okta', 'identity.providers[0].api_token', /exactly one of api_token and oauth/);
});

t.test('cross-references name the line and path', async (t) => {
  const badAnchor = `${minimal}
revocation:
  profiles:
    - trust_anchors: [pki/other-ca.pem]
      check: crl
`;
  expectProblem(t, badAnchor, '[pki/other-ca.pem]', 'revocation.profiles[0].trust_anchors[0]', /is not one of tls.trust_anchors/);
  const twoCatchAll = `${minimal}
revocation:
  profiles:
    - check: crl
    - check: ocsp
`;
  expectProblem(t, twoCatchAll, '- check: ocsp', 'revocation.profiles[1].trust_anchors', /already applies to all other trust anchors/);
  const unknownProvider = ENTRA.replace('provider: corp', 'provider: nobody');
  expectProblem(t, `${minimal}${unknownProvider}`, 'provider: nobody', 'identity.lookups[0].provider', /no provider is named "nobody"/);
  const noCapture = `${minimal}${ENTRA}      key_pattern: '^urn:device:.+$'\n`;
  expectProblem(t, noCapture, 'key_pattern', 'identity.lookups[0].key_pattern', /exactly one capture group/);
  const badCheck = `${minimal}
revocation:
  profiles:
    - check: sometimes
`;
  expectProblem(t, badCheck, 'check: sometimes', 'revocation.profiles[0].check', /./);
  const httpOnly = `${minimal}
revocation:
  profiles:
    - check: ocsp
      ocsp_url: ldap://ocsp.example.org
`;
  expectProblem(t, httpOnly, 'ocsp_url', 'revocation.profiles[0].ocsp_url', /http:\/\/ or https:\/\//);
  const rule = (lookup: string) =>
    minimal.replace('policy:\n', `policy:\n  rules:\n    - name: r\n      match: { identity: { lookup: ${lookup}, groups: Staff } }\n      action: accept\n`);
  expectProblem(t, `${rule('staf')}${ENTRA}`, 'match: { identity', 'policy.rules[0].match.identity.lookup', /no identity lookup is named "staf"/);
  t.doesNotThrow(() => parseConfig(`${rule('staff')}${ENTRA}`, FILE, OPTIONS), 'a rule naming a lookup that exists');
  const empty = minimal.replace('policy:\n', 'policy:\n  rules:\n    - name: r\n      match: { identity: {} }\n      action: accept\n');
  expectProblem(t, `${empty}${ENTRA}`, 'match: { identity', 'policy.rules[0].match.identity', /status or groups/);
});
