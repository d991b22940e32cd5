/**
 * portcullis against FreeRADIUS 3.2 on this machine, with the same certificates, the same VLAN
 * rules and the same load generator, the servers alternating round by round; and the bare
 * OpenSSL handshake on the same certificates as the floor. Prints one table: medians over the
 * rounds, and the ratio portcullis / FreeRADIUS (median of the per-round ratios).
 */
import type { DevPkiPaths } from '../src/pki/dev-pki.ts';
import { ensureFreeradius, freeradiusVersion } from './freeradius.ts';
import type { LoadReport } from './load.ts';
import { measureOpensslFloor } from './openssl-floor.ts';
import { describe, loadRunning, startServer, warmUp, type LoadSpec, type ServerKind } from './scenario.ts';
import { median } from './stats.ts';

/** Seconds each measured load runs. */
const LOAD_SECONDS = 10;
/** Conversations at once for the saturation loads: enough to keep both cores busy. */
const SATURATION_CONCURRENCY = 32;
/** The share of saturation at which latency is measured (the issue: 80%). */
const LATENCY_LOAD_SHARE = 0.8;

/** One figure of the table: how it is measured and read from a report. */
interface Row {
  readonly name: string;
  readonly spec: (saturation: number) => LoadSpec;
  readonly figures: readonly { readonly label: string; readonly read: (report: LoadReport) => number; readonly unit: string }[];
}

const full = (version: LoadSpec['version']): LoadSpec => ({
  version,
  client: 'client-ec',
  transport: 'udp',
  concurrency: SATURATION_CONCURRENCY,
  seconds: LOAD_SECONDS,
  resumedShare: 0,
});

const ROWS: readonly Row[] = [
  {
    name: 'TLS 1.3 full, saturation',
    spec: () => full('TLSv1.3'),
    figures: [
      { label: 'auths/s', read: (r) => r.perSecond, unit: '/s' },
      { label: 'server CPU per auth', read: (r) => r.serverCpuMsPerAuth, unit: 'ms' },
    ],
  },
  {
    name: 'TLS 1.3 full, 80% of saturation',
    spec: (saturation) => ({ ...full('TLSv1.3'), rate: Math.max(1, Math.round(saturation * LATENCY_LOAD_SHARE)), concurrency: 64 }),
    figures: [
      { label: 'round trip p50', read: (r) => r.roundTripMs.p50, unit: 'ms' },
      { label: 'round trip p99', read: (r) => r.roundTripMs.p99, unit: 'ms' },
      { label: 'server CPU per auth', read: (r) => r.serverCpuMsPerAuth, unit: 'ms' },
    ],
  },
  {
    name: 'TLS 1.3 resumed',
    spec: () => ({ ...full('TLSv1.3'), resumedShare: 1 }),
    figures: [
      { label: 'server CPU per auth', read: (r) => r.serverCpuMsPerAuth, unit: 'ms' },
      { label: 'resumed share', read: (r) => r.resumed / Math.max(1, r.authentications), unit: '' },
      { label: 'failed checks (e.g. no VLAN)', read: (r) => r.errors, unit: '' },
    ],
  },
  {
    name: 'TLS 1.2 full, saturation',
    spec: () => full('TLSv1.2'),
    figures: [
      { label: 'auths/s', read: (r) => r.perSecond, unit: '/s' },
      { label: 'server CPU per auth', read: (r) => r.serverCpuMsPerAuth, unit: 'ms' },
    ],
  },
  {
    name: 'TLS 1.2 resumed',
    spec: () => ({ ...full('TLSv1.2'), resumedShare: 1 }),
    figures: [
      { label: 'server CPU per auth', read: (r) => r.serverCpuMsPerAuth, unit: 'ms' },
      { label: 'resumed share', read: (r) => r.resumed / Math.max(1, r.authentications), unit: '' },
      { label: 'failed checks (e.g. no VLAN)', read: (r) => r.errors, unit: '' },
    ],
  },
];

/** Figures of one server in one round, per row and figure label. */
type RoundFigures = Map<string, number>;

/** Runs every row against one server, fresh, and returns its figures. */
async function measureServer(kind: ServerKind, pki: DevPkiPaths, workers: number | undefined): Promise<RoundFigures> {
  const server = await startServer(kind, pki, { workers });
  const figures: RoundFigures = new Map();
  try {
    await warmUp(server, pki, kind);
    let saturation = NaN;
    for (const row of ROWS) {
      const spec = row.spec(saturation);
      const report = await loadRunning(server, pki, spec, kind === 'portcullis');
      if (row.name === 'TLS 1.3 full, saturation') saturation = report.perSecond;
      for (const figure of row.figures) figures.set(`${row.name}|${figure.label}`, figure.read(report));
      const errors = report.errorSamples.length > 0 ? ` errors: ${report.errorSamples.join('; ')}` : '';
      process.stdout.write(`  ${kind}: ${describe(spec)}: ${report.perSecond.toFixed(1)}/s, ${report.serverCpuMsPerAuth.toFixed(2)} ms CPU/auth, RTT p99 ${report.roundTripMs.p99.toFixed(2)} ms, ${report.errors} errors${errors}\n`);
    }
  } finally {
    await server.stop();
  }
  return figures;
}

/** The comparison: `runs` rounds, the two servers alternating which goes first. */
export async function compare(pki: DevPkiPaths, runs: number, workers: number | undefined): Promise<void> {
  await ensureFreeradius();
  process.stdout.write(`FreeRADIUS ${await freeradiusVersion()}; portcullis eap.workers ${workers ?? 'auto'}; ${runs} rounds\n`);
  const results: Record<ServerKind, RoundFigures[]> = { portcullis: [], freeradius: [] };
  const floors: number[] = [];
  for (let round = 1; round <= runs; round++) {
    process.stdout.write(`round ${round}\n`);
    const order: ServerKind[] = round % 2 === 1 ? ['portcullis', 'freeradius'] : ['freeradius', 'portcullis'];
    for (const kind of order) results[kind].push(await measureServer(kind, pki, workers));
    const floor = await measureOpensslFloor({ pki, version: 'TLSv1.3', client: 'client-ec', seconds: 5 });
    floors.push(floor.serverCpuMsPerHandshake);
    if (round === 1) process.stdout.write(`  OpenSSL floor:\n${floor.command.replace(/^/gm, '    ')}\n`);
    process.stdout.write(`  OpenSSL TLS 1.3 mutual handshake: ${floor.serverCpuMsPerHandshake.toFixed(2)} ms server CPU\n`);
  }
  printTable(results, floors);
}

function printTable(results: Record<ServerKind, RoundFigures[]>, floors: readonly number[]): void {
  const pad = (text: string, width: number) => text.padEnd(width);
  const num = (value: number) => (Number.isFinite(value) ? (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2)) : '-');
  const lines = [`${pad('load', 34)}${pad('figure', 31)}${pad('portcullis', 12)}${pad('FreeRADIUS', 12)}ratio P/F`];
  for (const row of ROWS) {
    for (const figure of row.figures) {
      const key = `${row.name}|${figure.label}`;
      const ours = results.portcullis.map((round) => round.get(key) ?? NaN);
      const theirs = results.freeradius.map((round) => round.get(key) ?? NaN);
      const ratios = ours.map((value, i) => value / theirs[i]!);
      lines.push(`${pad(row.name, 34)}${pad(`${figure.label}${figure.unit === '' ? '' : ` (${figure.unit})`}`, 31)}${pad(num(median(ours)), 12)}${pad(num(median(theirs)), 12)}${num(median(ratios))}`);
    }
  }
  const floor = median(floors);
  const key = 'TLS 1.3 full, saturation|server CPU per auth';
  const ours = median(results.portcullis.map((round) => round.get(key) ?? NaN));
  lines.push(`OpenSSL TLS 1.3 mutual handshake (floor): ${num(floor)} ms server CPU; portcullis full TLS 1.3 / floor = ${num(ours / floor)}`);
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
