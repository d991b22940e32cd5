/**
 * The floor the EAP-TLS servers are compared to: the server-side CPU cost of a bare OpenSSL
 * mutual-TLS handshake with the same certificates, measured on `openssl s_server` loaded by
 * `openssl s_time` (one client, handshakes one after another, over TCP on 127.0.0.1).
 *
 * s_server presents the server leaf plus the intermediate, requires a client certificate and
 * verifies it up to the dev root (`-Verify 3 -verify_return_error`: without the latter s_server
 * logs verification errors and carries on). s_time loads only the first certificate of `-cert`,
 * so it is given the intermediate as `-CAfile`: OpenSSL's automatic chain building then sends
 * leaf + intermediate, as a supplicant does. In TLS 1.3 the client finishes before the server
 * has checked its certificate, so s_time would count rejected handshakes too: any handshake error
 * s_server reports on stderr fails the measurement.
 *
 * Full handshakes: `s_time -new`, s_server without session cache or tickets. Resumed handshakes:
 * `s_time -reuse` against s_server's in-memory session cache (`-no_ticket`: session IDs in
 * TLS 1.2, stateful tickets in TLS 1.3, one per handshake; stateless tickets cost OpenSSL 3.0
 * several times more), and `-WWW` / `-www` so that every connection carries a one-line HTTP
 * request and a 1-byte file: without reading after the handshake the client never receives a
 * TLS 1.3 ticket. Both versions use it, so the resumed figures include that small exchange. The
 * one full handshake s_time makes before timing resumptions is charged to them too (negligible).
 *
 * Server CPU is read from /proc (10 ms ticks): run for several seconds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DevPkiPaths } from '../src/pki/dev-pki.ts';
import { cpuBetween, sampleProcess } from './proc-stats.ts';
import { freeTcpPort } from './processes.ts';

const OPENSSL = 'openssl';
/** How long s_server gets to start listening. */
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
/** Wait after s_time exits before the last CPU reading: the server may still finish a handshake. */
const SETTLE_MS = 200;
/** Grace beyond `seconds` before s_time is killed. */
const CLIENT_GRACE_MS = 30_000;
/** SIGTERM to SIGKILL. */
const STOP_GRACE_MS = 2_000;
/** At most this much of a process's output is kept for error messages. */
const OUTPUT_CAP = 16_384;
/** The file s_server serves in resumed mode (relative to its working directory). */
const WWW_FILE = 'x';

/** Options of {@link measureOpensslFloor}. */
export interface FloorOptions {
  /** The development PKI: server certificate, key and chain, client identities, root CA. */
  readonly pki: DevPkiPaths;
  /** The only protocol version s_server and s_time offer. */
  readonly version: 'TLSv1.2' | 'TLSv1.3';
  /** The client identity s_time presents (EC P-256 or RSA 2048 leaf, both under the intermediate). */
  readonly client: 'client-ec' | 'client-rsa';
  /** How long s_time runs, whole seconds (s_time's `-time`; it stops at the next second boundary). */
  readonly seconds: number;
  /** Measure resumed handshakes (`s_time -reuse`) instead of full ones (`-new`). Default false. */
  readonly resumed?: boolean;
}

/** What {@link measureOpensslFloor} measured. */
export interface FloorResult {
  /** Handshakes completed, from s_time's summary; each one checked by s_server without error. */
  readonly handshakes: number;
  /** s_server's CPU time (user + system) over the run divided by `handshakes`. */
  readonly serverCpuMsPerHandshake: number;
  /** `handshakes` over the wall-clock time of the s_time process (one client, sequential). */
  readonly handshakesPerSecond: number;
  /** s_server's CPU time over the run, ms (10 ms resolution). */
  readonly serverCpuMs: number;
  /** Wall-clock time of the s_time process, seconds. */
  readonly wallSeconds: number;
  /** The s_server and s_time command lines, one a line, for RESULTS.md. */
  readonly command: string;
}

/** Output of a child process, capped, with a running count of the lines that report errors. */
class Output {
  text = '';
  errorLines = 0;
  private partial = '';

  constructor(
    private readonly isError: (line: string) => boolean = () => false,
    private readonly cap = OUTPUT_CAP,
  ) {}

  add(chunk: Buffer): void {
    const s = chunk.toString('utf8');
    if (this.text.length < this.cap) this.text += s.slice(0, this.cap - this.text.length);
    const lines = (this.partial + s).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) if (this.isError(line)) this.errorLines += 1;
  }

  finish(): void {
    if (this.partial !== '' && this.isError(this.partial)) this.errorLines += 1;
    this.partial = '';
  }
}

/** A failed handshake or verification in s_server's stderr (errors are printed even with -quiet). */
const isServerError = (line: string): boolean => line === 'ERROR' || line.includes(':error:') || line.startsWith('verify error:');

/** Quotes an argument for a POSIX shell when needed. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** True once a socket listens on 127.0.0.1:`port` (Linux /proc/net/tcp). */
function listening(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A';
    });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after a grace; resolves once the process has exited (or never started). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await done;
  clearTimeout(timer);
}

/**
 * Runs `openssl s_server` on a free port of 127.0.0.1 and `openssl s_time` against it for
 * `seconds`, and charges s_server's CPU time to the handshakes s_time reports. s_server is always
 * stopped. Rejects with openssl's output when either fails, when s_server reports a handshake or
 * verification error, or when the handshakes are not all of the kind asked for (full / resumed).
 * Needs `openssl` on the PATH and Linux /proc.
 */
export async function measureOpensslFloor(options: FloorOptions): Promise<FloorResult> {
  const { pki, seconds } = options;
  if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError(`seconds must be a positive integer, got ${seconds}`);
  const resumed = options.resumed === true;
  const client = pki.clients[options.client];
  const versionFlag = options.version === 'TLSv1.3' ? '-tls1_3' : '-tls1_2';
  const port = await freeTcpPort();
  const wwwDir = resumed ? await mkdtemp(join(tmpdir(), 'openssl-floor-')) : undefined;

  // prettier-ignore
  const serverArgs = [
    's_server', '-accept', `127.0.0.1:${port}`,
    '-cert', pki.server.leaf, '-cert_chain', pki.intermediate.cert, '-key', pki.server.key,
    '-CAfile', pki.root.cert, '-Verify', '3', '-verify_return_error', '-verify_quiet',
    versionFlag, '-quiet',
    '-no_ticket', ...(resumed ? ['-num_tickets', '1', '-WWW'] : ['-no_cache', '-num_tickets', '0']),
  ];
  // prettier-ignore
  const clientArgs = [
    's_time', '-connect', `127.0.0.1:${port}`, resumed ? '-reuse' : '-new', versionFlag,
    '-cert', client.cert, '-key', client.key, '-CAfile', pki.intermediate.cert,
    '-time', String(seconds),
    ...(resumed ? ['-www', `/${WWW_FILE}`] : []),
  ];
  const line = (args: readonly string[]): string => [OPENSSL, ...args].map(shellQuote).join(' ');
  const command = [
    line(serverArgs) + (wwwDir === undefined ? '' : `  # in a directory holding the 1-byte file ${WWW_FILE}`),
    line(clientArgs),
  ].join('\n');

  let server: ChildProcess | undefined;
  let timing: ChildProcess | undefined;
  try {
    if (wwwDir !== undefined) await writeFile(join(wwwDir, WWW_FILE), 'x');
    const serverErr = new Output(isServerError);
    let spawnError: Error | undefined;
    // stdin stays an open, silent pipe: s_server polls it in its default mode.
    server = spawn(OPENSSL, serverArgs, { stdio: ['pipe', 'ignore', 'pipe'], cwd: wwwDir });
    server.on('error', (err) => (spawnError = err));
    server.stderr!.on('data', (chunk: Buffer) => serverErr.add(chunk));
    const serverOutput = (): string => `${command}\ns_server stderr:\n${serverErr.text}`;

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!listening(port)) {
      if (spawnError !== undefined) throw new Error(`cannot run ${OPENSSL}: ${spawnError.message}`);
      if (exited(server)) throw new Error(`s_server exited (${server.exitCode ?? server.signalCode}):\n${serverOutput()}`);
      if (Date.now() > deadline) throw new Error(`s_server did not listen within ${START_TIMEOUT_MS} ms:\n${serverOutput()}`);
      await sleep(POLL_MS);
    }
    const pid = server.pid!;

    const before = sampleProcess(pid);
    const started = performance.now();
    const out = new Output(undefined, Infinity); // about one byte per handshake
    const err = new Output();
    timing = spawn(OPENSSL, clientArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      timing!.once('error', reject);
      timing!.once('close', (code, signal) => resolve({ code, signal })); // after stdout is drained
    });
    timing.stdout!.on('data', (chunk: Buffer) => out.add(chunk));
    timing.stderr!.on('data', (chunk: Buffer) => err.add(chunk));
    const killer = setTimeout(() => timing?.kill('SIGKILL'), seconds * 1000 + CLIENT_GRACE_MS);
    const { code, signal } = await exit.finally(() => clearTimeout(killer));
    const wallSeconds = (performance.now() - started) / 1000;
    const clientOutput = (): string => `s_time exited (${code ?? signal}):\n${serverOutput()}\ns_time stdout:\n${out.text}\ns_time stderr:\n${err.text}`;
    if (code !== 0) throw new Error(clientOutput());

    await sleep(SETTLE_MS);
    if (exited(server)) throw new Error(`s_server exited during the run (${server.exitCode ?? server.signalCode}):\n${serverOutput()}`);
    const after = sampleProcess(pid);
    serverErr.finish();
    if (serverErr.errorLines > 0) throw new Error(`s_server reported ${serverErr.errorLines} error line(s):\n${serverOutput()}`);

    const summary = /^(\d+) connections in [\d.]+s;/m.exec(out.text);
    const handshakes = summary === null ? 0 : Number(summary[1]);
    if (handshakes === 0) throw new Error(`no handshake completed:\n${clientOutput()}`);
    // One character per timed connection, on a line of its own: 'r' resumed, '*' (or 't', '3') new.
    const progress = out.text.split('\n').filter((l) => /^[*rt3]+$/.test(l)).join('');
    const reused = progress.replaceAll(/[^r]/g, '').length;
    const fresh = progress.length - reused;
    if (progress.length !== handshakes) throw new Error(`cannot read s_time's progress (${progress.length} marks, ${handshakes} connections):\n${clientOutput()}`);
    if (resumed ? fresh > 0 : reused > 0) {
      throw new Error(`${resumed ? fresh : reused} of ${handshakes} handshakes were ${resumed ? 'not resumed' : 'resumed'}:\n${command}`);
    }

    const serverCpuMs = cpuBetween(before, after);
    return {
      handshakes,
      serverCpuMsPerHandshake: serverCpuMs / handshakes,
      handshakesPerSecond: handshakes / wallSeconds,
      serverCpuMs,
      wallSeconds,
      command,
    };
  } finally {
    if (timing !== undefined) await stop(timing);
    if (server !== undefined) await stop(server);
    if (wwwDir !== undefined) await rm(wwwDir, { recursive: true, force: true });
  }
}
