/**
 * portcullis as the server under test: the compiled build (`dist/`, as in production) in a child
 * process of its own, so that /proc charges it alone, with the dev PKI, the CRL files of both CA
 * levels and the two VLAN rules of the development configuration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevPkiPaths } from '../src/pki/dev-pki.ts';
import { devPkiYaml } from '../test/support/test-server.ts';
import { waitFor } from './processes.ts';

/** The CN of the dev client certificate the RadSec NAS presents (`client-ec`). */
export const RADSEC_PEER_CN = 'laptop-ec.portcullis.test';

/** Options of {@link startPortcullis}. */
export interface PortcullisOptions {
  readonly pki: DevPkiPaths;
  /** A work directory: the configuration and the server's log go there. */
  readonly dir: string;
  /** UDP authentication port on 127.0.0.1. */
  readonly port: number;
  /** RadSec port on 127.0.0.1; RadSec off when absent. */
  readonly radsecPort?: number;
  readonly secret: string;
  /** EAP worker threads (`eap.workers`); the configuration default (`auto`) when absent. */
  readonly workers?: number | undefined;
  /** Log level; `info` (one decision line per authentication, as in production) by default. */
  readonly logLevel?: string;
  /** Extra Node.js options (e.g. `--perf-basic-prof`). */
  readonly nodeOptions?: readonly string[];
}

/** A running server under test. */
export interface RunningServer {
  readonly pid: number;
  readonly port: number;
  /** The configuration and log files. */
  readonly configPath: string;
  readonly logPath: string;
  stop(): Promise<void>;
}

/** The configuration the benchmarks run portcullis with. */
export function benchConfigYaml(options: PortcullisOptions): string {
  const { pki } = options;
  const radsec =
    options.radsecPort === undefined
      ? ''
      : `
radsec:
  listen: [{ address: 127.0.0.1, port: ${options.radsecPort} }]
  trust_anchors: [${pki.caChain}]
  peers:
    - name: bench-radsec
      match: { subject_cn: [${RADSEC_PEER_CN}] }`;
  return `
listen: [{ address: 127.0.0.1, port: ${options.port} }]
log: { level: ${options.logLevel ?? 'info'} }
tls:
${devPkiYaml(pki)}
eap:
  max_sessions: 100000
  max_sessions_per_client: 100000
${options.workers === undefined ? '' : `  workers: ${options.workers}`}
clients:
  - name: bench-nas
    address: 127.0.0.1/32
    secret: ${options.secret}
policy:
  rules:
    - name: staff
      match: { cert_issuer: { CN: Portcullis Dev Issuing CA }, cert_subject: { OU: Staff } }
      action: accept
      vlan: 100
    - name: students
      match: { cert_issuer: { CN: Portcullis Dev Issuing CA }, cert_subject: { OU: Students } }
      action: accept
      vlan: 200
  default: { action: reject, reason: no-matching-rule }
operations:
  http: { enabled: false }
${radsec}
`;
}

/** Starts `node dist/cli.js serve` with {@link benchConfigYaml}; resolves once it has started. */
export async function startPortcullis(options: PortcullisOptions): Promise<RunningServer> {
  const configPath = join(options.dir, 'portcullis.yaml');
  const logPath = join(options.dir, 'portcullis.log');
  writeFileSync(configPath, benchConfigYaml(options));
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), 'dist/cli.js', 'serve', configPath], {
    stdio: ['ignore', log, log],
  });
  await waitFor(child, () => readFileSync(logPath, 'utf8').includes('portcullis started'), () => readFileSync(logPath, 'utf8'));
  return { pid: child.pid!, port: options.port, configPath, logPath, stop: () => stopChild(child) };
}

/** SIGTERM, then SIGKILL after a grace; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
