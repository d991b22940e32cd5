/**
 * Helpers of the operations tests: a small Prometheus text parser and scraper, a configuration
 * file built as an object and written as YAML, CRLs signed with a dev PKI CA key, eapol_test runs
 * of dev PKI clients, and `portcullis serve` as a child process whose JSON log is read back.
 */
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { webcrypto, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { DevClientName, DevPkiCaPaths, DevPkiPaths } from '../../src/pki/dev-pki.ts';
import { x509 } from '../../src/pki/x509.ts';
import { ENABLE_TLS13, ONLY_TLS12, runEapolTest, type EapolTestResult } from './eapol-test.ts';

/** The repository root, where `src/cli.ts` is run from. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition

/** Label names and values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** One sample line of a scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

/** One `/metrics` answer, parsed. */
export class Scrape {
  readonly samples: readonly Sample[];

  constructor(samples: readonly Sample[]) {
    this.samples = samples;
  }

  /** The value of the series with exactly these labels; 0 when there is none (a counter not yet touched). */
  value(name: string, labels: Labels = {}): number {
    const wanted = Object.entries(labels);
    const found = this.samples.find(
      (s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v),
    );
    return found?.value ?? 0;
  }

  /** The sum over every series of `name` whose labels include `labels`. */
  sum(name: string, labels: Labels = {}): number {
    return this.matching(name, labels).reduce((total, s) => total + s.value, 0);
  }

  /** Every series of `name` whose labels include `labels`. */
  matching(name: string, labels: Labels = {}): Sample[] {
    const wanted = Object.entries(labels);
    return this.samples.filter((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v));
  }
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (version 0.0.4): comments skipped, label values unescaped. */
export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL_PAIR)) {
      labels[key ?? ''] = (raw ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = match[3] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value) });
  }
  return new Scrape(samples);
}

/** An HTTP answer of the operations listener. */
export interface OpsAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** Sends one request to the operations listener on 127.0.0.1. */
export async function opsRequest(port: number, path: string, method = 'GET'): Promise<OpsAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
}

/** GET /metrics, parsed; throws unless the answer is 200. */
export async function scrape(port: number): Promise<Scrape> {
  const answer = await opsRequest(port, '/metrics');
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.text}`);
  return parsePrometheus(answer.text);
}

// ---------------------------------------------------------------------------------------------
// Configuration files

/** What an operations test varies in its configuration. */
export interface OpsConfigOptions {
  readonly pki: DevPkiPaths;
  /** The shared secret of the one client, `ops-nas` on 127.0.0.1. */
  readonly secret: string;
  /** The VLAN of OU Staff (client-ec); OU Students (client-rsa) is always 200. */
  readonly staffVlan?: number;
  /** `tls.crl_files`; the dev PKI's two CRLs by default. */
  readonly crlFiles?: readonly string[];
  /** Merged into `operations` (`http.port` is 0 unless given here). */
  readonly operations?: Readonly<Record<string, unknown>>;
  readonly logLevel?: string;
}

/** The client name in every operations configuration. */
export const OPS_CLIENT = 'ops-nas';

/** A whole configuration as a plain object, ready for {@link writeConfig}. */
export function opsConfig(o: OpsConfigOptions): Record<string, unknown> {
  return {
    listen: [{ address: '127.0.0.1', port: 0 }],
    log: { level: o.logLevel ?? 'info' },
    tls: {
      certificate: o.pki.server.cert,
      private_key: o.pki.server.key,
      trust_anchors: [o.pki.root.cert],
      intermediates: [o.pki.intermediate.cert],
      crl_files: o.crlFiles ?? [o.pki.rootCrl, o.pki.intermediateCrl],
    },
    clients: [{ name: OPS_CLIENT, address: '127.0.0.1', secret: o.secret }],
    policy: {
      rules: [
        { name: 'staff', match: { cert_subject: { OU: 'Staff' } }, action: 'accept', vlan: o.staffVlan ?? 100 },
        { name: 'students', match: { cert_subject: { OU: 'Students' } }, action: 'accept', vlan: 200 },
      ],
      default: { action: 'reject', reason: 'no-matching-rule' },
    },
    operations: { http: { port: 0 }, ...o.operations },
  };
}

/** Writes a configuration object as YAML; returns the text written. */
export async function writeConfig(path: string, config: Readonly<Record<string, unknown>>): Promise<string> {
  const text = stringify(config);
  await writeFile(path, text);
  return text;
}

/**
 * Writes `config` with one unknown key (`eap.max_round`) and returns the problem the loader must
 * report for it: `<path>:<line> eap.max_round: unknown key`.
 */
export async function writeBrokenConfig(path: string, config: Readonly<Record<string, unknown>>): Promise<string> {
  const text = await writeConfig(path, { ...config, eap: { max_round: 40 } });
  const line = text.split('\n').findIndex((l) => l.trim().startsWith('max_round:')) + 1;
  return `${path}:${line} eap.max_round: unknown key`;
}

// ---------------------------------------------------------------------------------------------
// PKI

/** The one-line subject the server puts in its labels (`O=..., OU=..., CN=...`), read with node:crypto. */
export function subjectLine(certificate: X509Certificate): string {
  return certificate.subject.split('\n').join(', ');
}

/** The first certificate of a PEM file. */
export function firstCertificate(path: string): X509Certificate {
  return new X509Certificate(readFileSync(path));
}

/** notAfter of a certificate in Unix seconds. */
export function notAfterSeconds(certificate: X509Certificate): number {
  return Date.parse(certificate.validTo) / 1000;
}

/** nextUpdate of a CRL file in Unix seconds, as `openssl crl` reads it (an oracle independent of the server). */
export function crlNextUpdateSeconds(path: string): number {
  const out = execFileSync('openssl', ['crl', '-in', path, '-noout', '-nextupdate'], { encoding: 'utf8' });
  const match = /nextUpdate=(.+)/.exec(out);
  if (match === null) throw new Error(`openssl printed no nextUpdate for ${path}: ${out}`);
  return Date.parse(match[1] ?? '') / 1000;
}

/** What {@link writeCrl} signs. */
export interface CrlSpec {
  /** The CA (EC P-256, as every dev PKI CA) whose key signs. */
  readonly issuer: DevPkiCaPaths;
  /** Serial numbers, hex as node:crypto prints them. */
  readonly revoked: readonly string[];
  /** CRL number (RFC 5280 §5.2.3), 1..127; raise it with each new CRL of the same issuer. */
  readonly crlNumber: number;
  readonly nextUpdate: Date;
}

/** Signs a CRL with a dev PKI CA key and writes it as PEM to `path`. */
export async function writeCrl(path: string, spec: CrlSpec): Promise<void> {
  const ca = new x509.X509Certificate(readFileSync(spec.issuer.cert));
  const pkcs8 = x509.PemConverter.decode(readFileSync(spec.issuer.key, 'utf8'))[0];
  if (pkcs8 === undefined) throw new Error(`${spec.issuer.key} holds no key`);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subjectName,
    thisUpdate,
    nextUpdate: spec.nextUpdate,
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.Extension('2.5.29.20', false, new Uint8Array([0x02, 0x01, spec.crlNumber])),
      await x509.AuthorityKeyIdentifierExtension.create(await ca.publicKey.export()),
    ],
    entries: spec.revoked.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
  });
  await writeFile(path, `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`);
}

// ---------------------------------------------------------------------------------------------
// eapol_test

/** Where eapol_test authenticates. */
export interface Target {
  readonly port: number;
  readonly secret: string;
  readonly pki: DevPkiPaths;
}

/** One eapol_test authentication of a dev PKI client on one TLS version. */
export function eapol(
  target: Target,
  client: DevClientName,
  tls: 'TLSv1.2' | 'TLSv1.3',
  overrides: { readonly secret?: string; readonly timeoutSeconds?: number } = {},
): Promise<EapolTestResult> {
  return runEapolTest({
    port: target.port,
    secret: overrides.secret ?? target.secret,
    clientCert: target.pki.clients[client].cert,
    privateKey: target.pki.clients[client].key,
    caCert: target.pki.root.cert,
    phase1: tls === 'TLSv1.3' ? ENABLE_TLS13 : ONLY_TLS12,
    ...(overrides.timeoutSeconds === undefined ? {} : { timeoutSeconds: overrides.timeoutSeconds }),
  });
}

/** The Tunnel-Private-Group-Id of eapol_test's last reply, as text. */
export function eapolVlan(result: EapolTestResult): string | undefined {
  const hex = result.lastReplyAttributes.get('Tunnel-Private-Group-Id')?.[0];
  return hex === undefined ? undefined : Buffer.from(hex, 'hex').toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// The command line as a child process

/** A finished command. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node --import tsx src/cli.ts <args>` from the repository root, as `npm start` runs it. */
export function spawnCli(args: readonly string[]): { child: ChildProcessByStdio<null, Readable, Readable>; exited: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    ...out,
  }));
  return { child, exited };
}

/** A `portcullis serve` child and its JSON log. */
export interface ServedChild {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Every log line so far, parsed. */
  readonly log: Record<string, unknown>[];
  readonly exited: Promise<Exit>;
  /** Resolves with the first log line (past or future) that `predicate` accepts; rejects on exit or after `timeoutMs`. */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The RADIUS UDP port and the operations HTTP port, from the start-up lines. */
  readonly ports: Promise<{ readonly radius: number; readonly ops: number }>;
}

/** Starts `portcullis serve <configPath>`; the child is killed on `t.teardown` if still running. */
export function serveChild(t: { teardown: (fn: () => unknown) => void }, configPath: string): ServedChild {
  const { child, exited } = spawnCli(['serve', configPath]);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const log: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    log.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const wake of waiters) wake();
  });
  const waitFor = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolveLine, reject) => {
      const timer = setTimeout(() => finish(new Error(`no such log line within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const found = log.find(predicate);
        if (found !== undefined) finish(found);
        else if (ended) void exited.then((e) => finish(new Error(`the server exited (${String(e.code)}) first: ${e.stderr}`)));
      };
      const finish = (outcome: Record<string, unknown> | Error): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (outcome instanceof Error) reject(outcome);
        else resolveLine(outcome);
      };
      waiters.add(check);
      check();
    });
  const ports = Promise.all([
    waitFor((line) => line['msg'] === 'RADIUS listener bound'),
    waitFor((line) => line['event'] === 'ops-listening'),
  ]).then(([radius, ops]) => ({ radius: Number(radius['port']), ops: Number(ops['port']) }));
  return { child, log, exited, waitFor, ports };
}
