/**
 * One benchmark scenario: a server under test started fresh, warmed up, loaded and stopped, and
 * how its figures are printed.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevPki, type DevPkiPaths } from '../src/pki/dev-pki.ts';
import { ensureFreeradius, startFreeradius } from './freeradius.ts';
import { runLoad, type LoadReport, type NasTransport } from './load.ts';
import { freeTcpPort, freeUdpPort } from './processes.ts';
import { RadsecNas } from './radsec-nas.ts';
import { startPortcullis } from './portcullis.ts';

/** The NAS secret of every benchmark. */
export const BENCH_SECRET = 'bench-secret-0123456789';
/** Authentications run and thrown away before each load (caches, thread pools, the load's own path). */
const WARMUP_AUTHS = 200;
/**
 * Seconds of full TLS 1.3 and then TLS 1.2 authentications a fresh server runs before its first
 * measured load. A server runs for months: the figures are its steady state. portcullis's JIT
 * compiler was still busy after 200 authentications (9% of the samples in the 10 s after them,
 * 0.2% after 20 s of load); FreeRADIUS gets the same warm-up.
 */
const SERVER_WARMUP_SECONDS = 8;
/** How long a reply is awaited before the authentication counts as an error. */
const REPLY_TIMEOUT_MS = 5_000;

/** The servers the benchmarks compare. */
export type ServerKind = 'portcullis' | 'freeradius';

/** A server started for a benchmark. */
export interface ServerUnderTest {
  /** The process charged with CPU time and memory. */
  readonly pid: number;
  /** UDP authentication port on 127.0.0.1. */
  readonly port: number;
  /** RadSec port on 127.0.0.1, when enabled. */
  readonly radsecPort: number | undefined;
  /** Stops the server and removes its work directory. */
  stop(): Promise<void>;
}

/** What a load looks like. */
export interface LoadSpec {
  readonly version: 'TLSv1.2' | 'TLSv1.3';
  readonly client: 'client-ec' | 'client-rsa';
  readonly transport: 'udp' | 'radsec';
  readonly concurrency: number;
  readonly rate?: number;
  readonly seconds: number;
  readonly count?: number;
  readonly resumedShare: number;
}

/** The dev PKI (generated when missing) and a fresh compiled build of portcullis. */
export async function benchPki(): Promise<DevPkiPaths> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const { paths } = await ensureDevPki(join(import.meta.dirname, '..', 'certs-dev', 'out'));
  return paths;
}

/** The VLAN each dev client gets from both servers' rules. */
export function expectedVlan(client: LoadSpec['client']): string {
  return client === 'client-ec' ? '100' : '200';
}

/** Starts `kind` on fresh loopback ports in a fresh work directory. */
export async function startServer(
  kind: ServerKind,
  pki: DevPkiPaths,
  options: { readonly workers?: number | undefined; readonly radsec?: boolean; readonly nodeOptions?: readonly string[] } = {},
): Promise<ServerUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  const port = await freeUdpPort();
  const radsecPort = options.radsec === true ? await freeTcpPort() : undefined;
  const running =
    kind === 'portcullis'
      ? await startPortcullis({
          pki,
          dir,
          port,
          secret: BENCH_SECRET,
          ...(radsecPort === undefined ? {} : { radsecPort }),
          ...(options.workers === undefined ? {} : { workers: options.workers }),
          ...(options.nodeOptions === undefined ? {} : { nodeOptions: options.nodeOptions }),
        })
      : await ensureFreeradius().then(() => startFreeradius({ pki, dir, port, secret: BENCH_SECRET }));
  return {
    pid: running.pid,
    port,
    radsecPort,
    stop: async () => {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `spec` against a running server: a warm-up, then the measured load. */
export async function loadRunning(server: ServerUnderTest, pki: DevPkiPaths, spec: LoadSpec, strictReplies: boolean): Promise<LoadReport> {
  const client = pki.clients[spec.client];
  const [cert, key, ca] = [readFileSync(client.cert), readFileSync(client.key), readFileSync(pki.root.cert)];
  let nas: RadsecNas | undefined;
  let transport: NasTransport = { kind: 'udp', port: server.port, secret: BENCH_SECRET };
  if (spec.transport === 'radsec') {
    if (server.radsecPort === undefined) throw new Error('RadSec is not enabled on this server');
    const peer = pki.clients['client-ec'];
    nas = await RadsecNas.connect({
      port: server.radsecPort,
      cert: readFileSync(peer.cert),
      key: readFileSync(peer.key),
      ca,
      serverName: 'radius.portcullis.test',
      timeoutMs: REPLY_TIMEOUT_MS,
    });
    transport = { kind: 'radsec', exchanger: nas };
  }
  const base = {
    transport,
    cert,
    key,
    ca,
    version: spec.version,
    resumedShare: spec.resumedShare,
    expectedVlan: expectedVlan(spec.client),
    serverPid: server.pid,
    identity: 'bench@portcullis.test',
    strictReplies,
    timeoutMs: REPLY_TIMEOUT_MS,
  };
  try {
    await runLoad({ ...base, concurrency: Math.min(spec.concurrency, 8), count: WARMUP_AUTHS });
    return await runLoad({
      ...base,
      concurrency: spec.concurrency,
      seconds: spec.seconds,
      ...(spec.rate === undefined ? {} : { rate: spec.rate }),
      ...(spec.count === undefined ? {} : { count: spec.count }),
    });
  } finally {
    nas?.close();
  }
}

/** Brings a fresh server to its steady state: {@link SERVER_WARMUP_SECONDS} of TLS 1.3, then of TLS 1.2. */
export async function warmUp(server: ServerUnderTest, pki: DevPkiPaths, kind: ServerKind): Promise<void> {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    const spec: LoadSpec = { version, client: 'client-ec', transport: 'udp', concurrency: 8, seconds: SERVER_WARMUP_SECONDS, resumedShare: 0.5 };
    await loadRunning(server, pki, spec, kind === 'portcullis');
  }
}

/** Starts `kind`, warms it up, runs `spec` against it, stops it. */
export async function loadAgainst(kind: ServerKind, pki: DevPkiPaths, spec: LoadSpec, workers?: number): Promise<LoadReport> {
  const server = await startServer(kind, pki, { workers, radsec: spec.transport === 'radsec' });
  try {
    await warmUp(server, pki, kind);
    return await loadRunning(server, pki, spec, kind === 'portcullis');
  } finally {
    await server.stop();
  }
}

/** One line describing a load. */
export function describe(spec: LoadSpec): string {
  const mode = spec.rate === undefined ? `closed loop, ${spec.concurrency} at once` : `open loop, ${spec.rate}/s (at most ${spec.concurrency} at once)`;
  return `${spec.version} ${spec.client} over ${spec.transport}, ${mode}, ${Math.round(spec.resumedShare * 100)}% resumed, ${spec.count ?? '∞'} auths or ${spec.seconds} s`;
}

/** Prints one load report. */
export function printLoad(spec: LoadSpec, report: LoadReport): void {
  const f = (value: number, digits = 1) => value.toFixed(digits);
  const lines = [
    describe(spec),
    `  authentications ${report.authentications} in ${f(report.seconds)} s: ${f(report.perSecond)}/s, ${report.errors} errors${report.errorSamples.length > 0 ? ` (${report.errorSamples.join('; ')})` : ''}`,
    `  resumed ${report.resumed}, resumptions missed ${report.resumptionsMissed}${report.lateStarts > 0 ? `, late starts ${report.lateStarts}` : ''}`,
    `  authentication latency ms p50 ${f(report.authLatencyMs.p50)} p90 ${f(report.authLatencyMs.p90)} p99 ${f(report.authLatencyMs.p99)}`,
    `  RADIUS round trip ms  p50 ${f(report.roundTripMs.p50, 2)} p90 ${f(report.roundTripMs.p90, 2)} p99 ${f(report.roundTripMs.p99, 2)} (${report.roundTrips} round trips)`,
    `  server CPU ${f(report.serverCpuMsPerAuth, 2)} ms/auth, RSS ${Math.round(report.serverRssKiB / 1024)} MiB (peak ${Math.round(report.serverPeakRssKiB / 1024)} MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
