/**
 * The real command line, run as a child process from the repository root: `check-config` on good
 * and broken files, usage errors, and `serve` answering one real eapol_test authentication before
 * a clean SIGTERM shutdown.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureDevPki } from '../../src/pki/dev-pki.ts';
import { RECEIVE_BUFFER_BYTES } from '../../src/server/udp-listener.ts';
import { runEapolTest } from '../support/eapol-test.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const work = await mkdtemp(join(tmpdir(), 'portcullis-cli-test-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

/** Starts `portcullis <args>` the way `npm start` does: node with tsx, from the repository root. */
function portcullis(...args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { child, exited };
}

/** Runs `portcullis <args>` to completion. */
function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return portcullis(...args).exited;
}

// Each run costs a cold start of node + tsx (about a second of CPU): all of them start at once,
// and each test awaits its own.
const exampleRun = run('check-config', 'config/portcullis.example.yaml');
const usageRun = run();

const exampleLines = readFileSync(join(repo, 'config/portcullis.example.yaml'), 'utf8').split('\n');
const badLine = exampleLines.findIndex((line) => line.startsWith('  max_rounds:'));
const broken = join(work, 'broken.yaml');
await writeFile(broken, exampleLines.map((line, i) => (i === badLine ? '  max_round: 40' : line)).join('\n'));
const brokenRun = run('check-config', broken);

const { paths: pki } = await ensureDevPki(join(tmpdir(), 'portcullis-test-pki'));
const secret = 'cli-test-shared-secret-d41d8cd98f00';
const serveConfig = join(work, 'serve.yaml');
await writeFile(
  serveConfig,
  `listen:
  - address: 127.0.0.1
    port: 0
log:
  level: info
tls:
  certificate: ${pki.server.cert}
  private_key: ${pki.server.key}
  trust_anchors: [${pki.root.cert}]
  intermediates: [${pki.intermediate.cert}]
  crl_files: [${pki.rootCrl}, ${pki.intermediateCrl}]
clients:
  - name: loopback
    address: 127.0.0.1
    secret: ${secret}
policy:
  rules:
    - name: staff
      match: { cert_subject: { OU: Staff } }
      action: accept
      vlan: 100
  default: { action: reject, reason: no-matching-rule }
`,
);
const server = portcullis('serve', serveConfig);
t.teardown(() => {
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
});
/** Every stdout line of the server, parsed (pino JSON). */
const serverLines: Record<string, unknown>[] = [];
/** The listener's port, from the 'RADIUS listener bound' line; undefined if serve died first. */
const bound = new Promise<number | undefined>((resolvePort) => {
  createInterface({ input: server.child.stdout }).on('line', (line) => {
    const entry = JSON.parse(line) as Record<string, unknown>;
    serverLines.push(entry);
    if (entry['msg'] === 'RADIUS listener bound') resolvePort(Number(entry['port']));
  });
  void server.exited.then(() => resolvePort(undefined));
});

t.test('check-config: the example configuration is valid', async (t) => {
  const { code, stdout, stderr } = await exampleRun;
  t.equal(code, 0, stderr);
  t.equal(stdout, 'config/portcullis.example.yaml: valid (2 clients, 3 rules)\n');
  t.equal(stderr, '');
});

t.test('check-config: a broken file names file, line and YAML path; exit 2', async (t) => {
  t.ok(badLine > 0, 'the example has eap.max_rounds');
  const { code, stdout, stderr } = await brokenRun;
  t.equal(code, 2);
  t.equal(stdout, '');
  t.match(stderr, /^invalid configuration:\n/);
  t.match(stderr, `${broken}:${badLine + 1} eap.max_round: unknown key`);
});

t.test('no arguments: usage on stderr, exit 2', async (t) => {
  const { code, stdout, stderr } = await usageRun;
  t.equal(code, 2);
  t.equal(stderr, 'usage: portcullis serve|check-config|reload [config.yaml]\n');
  t.equal(stdout, '');
});

t.test('serve: one eapol_test authentication, then SIGTERM stops it cleanly', async (t) => {
  const port = await bound;
  if (port === undefined) {
    const { code, stderr } = await server.exited;
    t.fail(`serve exited (${String(code)}) before binding: ${stderr}`);
    return;
  }
  t.ok(port > 0 && port < 65536, `bound to port ${port}`);
  // The kernel caps the buffer at net.core.rmem_max.
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const boundLine = serverLines.find((line) => line['msg'] === 'RADIUS listener bound');
  t.equal(boundLine?.['receive_buffer_bytes'], Math.min(RECEIVE_BUFFER_BYTES, rmemMax), 'the socket receive buffer asked for, as far as the kernel allows');

  const result = await runEapolTest({
    port,
    secret,
    clientCert: pki.clients['client-ec'].cert,
    privateKey: pki.clients['client-ec'].key,
    caCert: pki.root.cert,
  });
  t.ok(result.success, 'eapol_test: SUCCESS', { diagnostic: !result.success, output: result.output.slice(-3000) });
  t.equal(result.lastReplyCode, 'Access-Accept');
  t.equal(result.mppeMismatch, 0);

  server.child.kill('SIGTERM');
  const { code, stdout, stderr } = await server.exited;
  t.equal(code, 0, stderr);
  const messages = serverLines.map((entry) => entry['msg']);
  t.ok(messages.includes('portcullis started'));
  t.match(serverLines.find((entry) => entry['event'] === 'decision'), { outcome: 'accept', rule: 'staff', vlan: '100', client: 'loopback' });
  t.same(messages.slice(-3), ['stopping', 'draining: no new conversations', 'stopped'], 'logs stopping, draining, then stopped, last');
  t.notOk(stdout.includes(secret), 'the shared secret never reaches stdout');
  t.notOk(stderr.includes(secret), 'nor stderr');
});
