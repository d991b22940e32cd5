import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.ts';
import { parseConfig } from '../../src/config/index.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const minimal = readFileSync(join(repo, 'test/fixtures/config/minimal.yaml'), 'utf8');
const FILE = 'portcullis.yaml';

/** `text` with `find` replaced by `replacement`; fails loudly when `find` is not there. */
function edit(text: string, find: string, replacement: string): string {
  if (!text.includes(find)) throw new Error(`fixture does not contain ${JSON.stringify(find)}`);
  return text.replace(find, replacement);
}

/** The 1-based line of the first occurrence of `marker` in `text` (the `occurrence`-th one). */
function lineOf(text: string, marker: string, occurrence = 1): number {
  let at = -1;
  for (let i = 0; i < occurrence; i += 1) {
    at = text.indexOf(marker, at + 1);
    if (at === -1) throw new Error(`marker not found: ${JSON.stringify(marker)}`);
  }
  return text.slice(0, at).split('\n').length;
}

/** The problems parseConfig reports for `text` (fails the test when it does not throw a ConfigError). */
function problemsOf(t: Test, text: string): readonly string[] {
  try {
    parseConfig(text, FILE, { baseDir: '/etc/portcullis' });
  } catch (error) {
    if (error instanceof ConfigError) {
      t.equal(error.code, 'config-invalid');
      return error.problems;
    }
    throw error;
  }
  t.fail('expected a ConfigError');
  return [];
}

/** Asserts that one problem reads `portcullis.yaml:<line> <path>: <message matching>`. */
function expectProblem(t: Test, text: string, line: number, path: string, message: RegExp): void {
  const problems = problemsOf(t, text);
  const prefix = `${FILE}:${line} ${path}: `;
  const found = problems.find((problem) => problem.startsWith(prefix) && message.test(problem.slice(prefix.length)));
  t.ok(found, `${prefix}${String(message)}\n  got:\n  ${problems.join('\n  ')}`);
}

/** `minimal` with a second client. */
function withSecondClient(name: string, address: string): string {
  const client = `  - name: ${name}\n    address: ${address}\n    secret: another-long-shared-secret\n`;
  return edit(minimal, 'policy:\n', `${client}policy:\n`);
}

/** `minimal` with one rule named `r` made of `lines` (indented as the rule's keys). */
function withRule(lines: readonly string[]): string {
  return edit(minimal, 'policy:\n', `policy:\n  rules:\n    - name: r\n${lines.map((line) => `      ${line}\n`).join('')}`);
}

/** A rule's lines, the text marking the line of the problem, its path below `policy.rules[0]`, its message. */
type RuleCase = readonly [lines: readonly string[], marker: string, path: string, message: RegExp];

/** Runs each case: the problem must be reported at the marker's line, under the path. */
function checkRuleCases(t: Test, cases: readonly RuleCase[]): void {
  for (const [lines, marker, path, message] of cases) {
    const text = withRule(lines);
    expectProblem(t, text, lineOf(text, marker), `policy.rules[0].${path}`, message);
  }
}

t.test('unknown keys are errors at the line of the key', async (t) => {
  const text = edit(minimal, '  private_key: pki/server.key\n', '  private_key: pki/server.key\n  privat_key: typo.key\n');
  expectProblem(t, text, lineOf(text, 'privat_key'), 'tls.privat_key', /^unknown key$/);
  const top = `${minimal}colour: blue\n`;
  expectProblem(t, top, lineOf(top, 'colour'), 'colour', /^unknown key$/);
  const nested = edit(minimal, '    address: 192.0.2.0/24\n', '    address: 192.0.2.0/24\n    port: 1812\n');
  expectProblem(t, nested, lineOf(nested, 'port: 1812'), 'clients[0].port', /^unknown key$/);
  const attribute = withRule(['match: { cert_subject: { cn: x } }', 'action: accept']);
  expectProblem(t, attribute, lineOf(attribute, 'cn: x'), 'policy.rules[0].match.cert_subject.cn', /^unknown key$/);
});

t.test('wrong types name what was expected and what was found', async (t) => {
  const port = edit(minimal, '  - address: 127.0.0.1\n', '  - address: 127.0.0.1\n    port: radius\n');
  expectProblem(t, port, lineOf(port, 'port: radius'), 'listen[0].port', /^must be .*number.*, not a string$/);
  const fractional = edit(minimal, '  - address: 127.0.0.1\n', '  - address: 127.0.0.1\n    port: 18.12\n');
  expectProblem(t, fractional, lineOf(fractional, 'port: 18.12'), 'listen[0].port', /integer/);
  const bool = `${minimal}log:\n  pretty: "yes"\n`;
  expectProblem(t, bool, lineOf(bool, 'pretty'), 'log.pretty', /^must be true or false, not a string$/);
  const list = edit(minimal, 'trust_anchors: [pki/root-ca.pem]', 'trust_anchors: pki/root-ca.pem');
  expectProblem(t, list, lineOf(list, 'trust_anchors'), 'tls.trust_anchors', /^must be a list, not a string$/);
  const empty = edit(minimal, 'tls:\n', 'log:\ntls:\n');
  expectProblem(t, empty, lineOf(empty, 'log:'), 'log', /^must be a mapping, not null/);
  const level = `${minimal}log: { level: loud }\n`;
  expectProblem(t, level, lineOf(level, 'level: loud'), 'log.level', /^must be one of: fatal, error, warn, info, debug, trace$/);
});

t.test('missing required options are reported at their parent', async (t) => {
  const text = edit(minimal, '  private_key: pki/server.key\n', '');
  expectProblem(t, text, lineOf(text, 'tls:'), 'tls.private_key', /^required$/);
  const noClients = minimal.slice(0, minimal.indexOf('clients:')) + minimal.slice(minimal.indexOf('policy:'));
  expectProblem(t, noClients, lineOf(noClients, 'listen:'), 'clients', /^required$/);
  const noReason = edit(minimal, '    reason: no-matching-rule\n', '');
  expectProblem(t, noReason, lineOf(noReason, 'default:'), 'policy.default.reason', /^required when action is reject$/);
  const emptyList = edit(minimal, 'trust_anchors: [pki/root-ca.pem]', 'trust_anchors: []');
  expectProblem(t, emptyList, lineOf(emptyList, 'trust_anchors'), 'tls.trust_anchors', /^must have at least 1 entry$/);
  expectProblem(t, '', 1, '(top level)', /^must be a mapping/);
  const blank = edit(minimal, 'certificate: pki/server.pem', 'certificate: ""');
  expectProblem(t, blank, lineOf(blank, 'certificate'), 'tls.certificate', /^must not be empty$/);
});

t.test('client networks: bad CIDR, host bits, duplicates', async (t) => {
  const bad = edit(minimal, 'address: 192.0.2.0/24', 'address: 192.0.2.0/33');
  expectProblem(t, bad, lineOf(bad, '192.0.2.0/33'), 'clients[0].address', /prefix length must be 0\.\.32/);
  const notIp = edit(minimal, 'address: 192.0.2.0/24', 'address: nas.example.com');
  expectProblem(t, notIp, lineOf(notIp, 'nas.example.com'), 'clients[0].address', /not an IPv4 or IPv6 address/);
  const host = edit(minimal, 'address: 192.0.2.0/24', 'address: 192.0.2.1/24');
  expectProblem(t, host, lineOf(host, '192.0.2.1/24'), 'clients[0].address', /host bits set .*the network is 192\.0\.2\.0\/24/);
  const hostInList = edit(minimal, 'address: 192.0.2.0/24', 'address:\n      - 192.0.2.0/24\n      - 2001:db8::1/64');
  expectProblem(t, hostInList, lineOf(hostInList, '2001:db8::1/64'), 'clients[0].address[1]', /host bits set .*2001:db8::\/64/);
  const dupNet = withSecondClient('nas-two', '192.0.2.0/24');
  expectProblem(t, dupNet, lineOf(dupNet, '192.0.2.0/24', 2), 'clients[1].address', /^192\.0\.2\.0\/24 is already used by clients\[0\]/);
});

t.test('duplicate client names, rule names and listeners', async (t) => {
  const clients = withSecondClient('nas-one', '198.51.100.7');
  expectProblem(t, clients, lineOf(clients, 'name: nas-one', 2), 'clients[1].name', /^duplicate client name \(first used by clients\[0\]/);
  const rules = withRule(['action: accept']).replace('  default:', '    - name: r\n      action: accept\n  default:');
  expectProblem(t, rules, lineOf(rules, 'name: r', 2), 'policy.rules[1].name', /^duplicate rule name \(first used by rules\[0\]/);
  const listeners = ['127.0.0.1', '::1', '127.0.0.1\n    port: 1812', '127.0.0.1\n    port: 0', '127.0.0.1\n    port: 0'];
  const listen = edit(minimal, '  - address: 127.0.0.1\n', listeners.map((l) => `  - address: ${l}\n`).join(''));
  const problems = problemsOf(t, listen);
  t.same(problems, [`${FILE}:5 listen[2]: same address and port as listen[0]`], 'port 0 never collides');
  const badName = edit(minimal, 'name: nas-one', 'name: "nas one"');
  expectProblem(t, badName, lineOf(badName, 'nas one'), 'clients[0].name', /A-Z a-z 0-9/);
});

t.test('secrets: too short is an error that does not quote the secret', async (t) => {
  const text = edit(minimal, 'a-long-enough-shared-secret', 'hunter2');
  const problems = problemsOf(t, text);
  t.same(problems, [`${FILE}:${lineOf(text, 'hunter2')} clients[0].secret: must be at least 8 characters long`]);
  const numeric = edit(minimal, 'a-long-enough-shared-secret', '1234567890123456');
  expectProblem(t, numeric, lineOf(numeric, '12345678901'), 'clients[0].secret', /^must be a string, not a number \(quote it\)$/);
  t.notOk(problemsOf(t, numeric).join('').includes('1234567890123456'));
});

t.test('numbers out of range are errors, never clamped', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['  max_fragment_size: 5000\n', 'tls.max_fragment_size', /^must be at most 3000$/],
    ['  max_fragment_size: 10\n', 'tls.max_fragment_size', /^must be at least 64$/],
    ['  resumption_lifetime_seconds: 0\n', 'tls.resumption_lifetime_seconds', /^must be at least 1$/],
  ];
  for (const [line, path, message] of cases) {
    const text = edit(minimal, '  private_key: pki/server.key\n', `  private_key: pki/server.key\n${line}`);
    expectProblem(t, text, lineOf(text, line.trim()), path, message);
  }
  const port = edit(minimal, '  - address: 127.0.0.1\n', '  - address: 127.0.0.1\n    port: 65536\n');
  expectProblem(t, port, lineOf(port, '65536'), 'listen[0].port', /^must be at most 65535$/);
  const eap = `${minimal}eap:\n  max_rounds: 0\n  max_tls_message_bytes: 1000\n`;
  expectProblem(t, eap, lineOf(eap, 'max_rounds'), 'eap.max_rounds', /^must be at least 1$/);
  expectProblem(t, eap, lineOf(eap, 'max_tls_message_bytes'), 'eap.max_tls_message_bytes', /^must be at least 4096$/);
  for (const workers of ['65', 'many', '-1']) {
    const text = `${minimal}eap:
  workers: ${workers}
`;
    expectProblem(t, text, lineOf(text, 'workers'), 'eap.workers', /./);
  }
  const listenAddress = edit(minimal, 'address: 127.0.0.1', 'address: localhost');
  expectProblem(t, listenAddress, lineOf(listenAddress, 'localhost'), 'listen[0].address', /IPv4 or IPv6 address literal/);
});

t.test('TLS: min_version above max_version', async (t) => {
  const versions = '  min_version: TLSv1.3\n  max_version: TLSv1.2\n';
  const text = edit(minimal, '  private_key: pki/server.key\n', `  private_key: pki/server.key\n${versions}`);
  expectProblem(t, text, lineOf(text, 'min_version'), 'tls.min_version', /^must not be above max_version \(TLSv1\.2\)$/);
  const bad = edit(minimal, '  private_key: pki/server.key\n', '  private_key: pki/server.key\n  min_version: TLSv1.1\n');
  expectProblem(t, bad, lineOf(bad, 'min_version'), 'tls.min_version', /^must be one of: TLSv1\.2, TLSv1\.3$/);
});

t.test('rules: bad regex, unknown client, matcher shapes', async (t) => {
  const accept = 'action: accept';
  checkRuleCases(t, [
    [['match:', "  san_email: { regex: 'a(b' }", accept], 'a(b', 'match.san_email.regex', /^invalid regular expression: \/a\(b\/: Unterminated/],
    [['match:', '  eap_identity:', '    - alice', "    - { regex: '[z-a]' }", accept], '[z-a]', 'match.eap_identity[1].regex', /Range/],
    [['match:', '  ssid: { regex: x, flags: g }', accept], 'flags: g', 'match.ssid.flags', /i, m, s, u/],
    [['match:', '  client: nas-two', accept], 'nas-two', 'match.client', /^no client is named "nas-two"$/],
    [['match:', '  client: [nas-one, nas-three]', accept], 'nas-three', 'match.client[1]', /^no client is named "nas-three"$/],
    [['match:', '  ssid: { prefix: a, suffix: b }', accept], 'ssid', 'match.ssid', /^must have exactly one of: regex, prefix/],
    [['match:', '  ssid: { prefix: a, flags: i }', accept], 'ssid', 'match.ssid.flags', /^is only allowed with regex$/],
    [['match:', '  nas_identifier: 42', accept], '42', 'match.nas_identifier', /, or a list of these$/],
    [['match:', '  ssid: { regexp: x }', accept], 'regexp', 'match.ssid.regexp', /^unknown key$/],
    [['match:', '  ssid: []', accept], 'ssid', 'match.ssid', /must have at least 1 entry/],
    [['match:', '  cert_subject: {}', accept], 'cert_subject', 'match.cert_subject', /^must name at least one attribute/],
    [['match:', '  cert_serial: 1234', accept], 'cert_serial', 'match.cert_serial', /quoted hex serial/],
    [['match:', '  cert_serial: [AB, XY]', accept], 'cert_serial', 'match.cert_serial[1]', /^must be hex digits/],
  ]);
});

t.test('decisions: fields must suit the action', async (t) => {
  checkRuleCases(t, [
    [['action: reject', 'reason: nope', 'vlan: 10'], 'vlan', 'vlan', /^is only allowed with action: accept$/],
    [['action: accept', 'reason: why'], 'reason', 'reason', /^is only allowed with action: reject$/],
    [['action: reject'], 'name: r', 'reason', /^required when action is reject$/],
    [['action: reject', 'reason: Not Allowed'], 'reason', 'reason', /a-z 0-9 -/],
    [['action: accept', 'vlan: 4095'], 'vlan', 'vlan', /^must be at most 4094$/],
    [['action: accept', 'vlan: "0100"'], 'vlan', 'vlan', /1\.\.4094 without leading zeros/],
    [['action: accept', 'reply:', '  session_timeout: 2147483648'], 'timeout', 'reply.session_timeout', /^must be at most 2147483647$/],
    [['action: accept', 'reply:', `  reply_message: ${'é'.repeat(127)}`], 'reply_', 'reply.reply_message', /at most 253 bytes/],
    [['action: allow'], 'allow', 'action', /^must be one of: accept, reject$/],
  ]);
});

t.test('YAML syntax errors and duplicate keys give a line', async (t) => {
  const dup = edit(minimal, '  private_key: pki/server.key\n', '  private_key: pki/server.key\n  private_key: other.key\n');
  t.same(problemsOf(t, dup), [`${FILE}:${lineOf(dup, 'private_key', 2)} yaml: Map keys must be unique`]);
  const syntax = edit(minimal, 'trust_anchors: [pki/root-ca.pem]', 'trust_anchors: [pki/root-ca.pem');
  const [first] = problemsOf(t, syntax);
  t.match(first, new RegExp(`^${FILE}:\\d+ yaml: `));
  const quote = edit(minimal, 'name: nas-one', 'name: "nas-one');
  t.match(problemsOf(t, quote)[0], new RegExp(`^${FILE}:\\d+ yaml: `));
  const tab = edit(minimal, '  certificate: pki/server.pem', '\tcertificate: pki/server.pem');
  t.match(problemsOf(t, tab)[0], new RegExp(`^${FILE}:${lineOf(tab, '\tcertificate')} yaml: `));
  const docs = `${minimal}---\nlisten: []\n`;
  t.match(problemsOf(t, docs)[0], new RegExp(`^${FILE}:${lineOf(docs, '---')} yaml: Source contains multiple documents`));
});

t.test('every problem is reported at once, in line order', async (t) => {
  const text = edit(
    edit(minimal, 'address: 127.0.0.1', 'address: 127.0.0.1\n    port: -1'),
    'a-long-enough-shared-secret',
    'short',
  ).replace('reason: no-matching-rule', 'reason: no-matching-rule\n    vlan: 3');
  const problems = problemsOf(t, text);
  t.same(problems, [
    `${FILE}:${lineOf(text, 'port: -1')} listen[0].port: must be at least 0`,
    `${FILE}:${lineOf(text, 'secret: short')} clients[0].secret: must be at least 8 characters long`,
    `${FILE}:${lineOf(text, 'vlan: 3')} policy.default.vlan: is only allowed with action: accept`,
  ]);
  t.throws(() => parseConfig(text, FILE), { name: 'ConfigError', message: /^invalid configuration:\n {2}portcullis\.yaml:/ });
});
