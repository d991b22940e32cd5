/**
 * Runs the real radsecproxy (1.9, Debian package `radsecproxy`) in the foreground between a UDP
 * NAS (eapol_test) and the server's RadSec listener: RADIUS/UDP in on a loopback port chosen at
 * run time, RADIUS/TLS out (RFC 6614) with a peer certificate. Stopped on teardown.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerFiles } from './radsec-client.ts';

const RADSECPROXY = '/usr/sbin/radsecproxy';
/** How long radsecproxy may take to bind its UDP port. */
const START_TIMEOUT_MS = 5_000;
/** The NAS side's shared secret. */
export const PROXY_NAS_SECRET = 'testing123';

/** Options of {@link startRadsecproxy}. */
export interface RadsecproxyOptions {
  /** The server's RadSec port on 127.0.0.1. */
  readonly radsecPort: number;
  /** The CA the server's certificate chains to. */
  readonly caCert: string;
  /** The certificate radsecproxy presents to the server. */
  readonly peer: PeerFiles;
  /** The RADIUS secret over TLS; "radsec" by default (RFC 6614 §2.3). */
  readonly radsecSecret?: string;
}

/** A running radsecproxy. */
export interface Radsecproxy {
  /** Its UDP port on 127.0.0.1, where a NAS sends with {@link PROXY_NAS_SECRET}. */
  readonly port: number;
  readonly secret: string;
  /** What it has logged so far (stderr and stdout). */
  output(): string;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Whether some socket is bound to 127.0.0.1:`port` over UDP (Linux /proc/net/udp). */
async function udpBound(port: number): Promise<boolean> {
  const table = await readFile('/proc/net/udp', 'utf8');
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table.split('\n').some((line) => line.trim().split(/\s+/)[1] === wanted);
}

/** Starts radsecproxy; `t.teardown` stops it and removes its files. */
export async function startRadsecproxy(t: { teardown: (fn: () => unknown) => void }, options: RadsecproxyOptions): Promise<Radsecproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-radsecproxy-'));
  const port = await freeUdpPort();
  // radsecproxy.conf(5): one option per line.
  const conf = [
    `ListenUDP 127.0.0.1:${port}`,
    'tls default {',
    `    CACertificateFile ${options.caCert}`,
    `    CertificateFile ${options.peer.chain}`,
    `    CertificateKeyFile ${options.peer.key}`,
    '}',
    'client nas {',
    '    host 127.0.0.1',
    '    type udp',
    `    secret ${PROXY_NAS_SECRET}`,
    '}',
    'server portcullis {',
    '    host 127.0.0.1',
    `    port ${options.radsecPort}`,
    '    type tls',
    '    tls default',
    '    certificateNameCheck off',
    `    secret ${options.radsecSecret ?? 'radsec'}`,
    '}',
    'realm * {',
    '    server portcullis',
    '}',
    '',
  ].join('\n');
  const confPath = join(dir, 'radsecproxy.conf');
  await writeFile(confPath, conf);
  const child = spawn(RADSECPROXY, ['-f', '-c', confPath, '-i', join(dir, 'radsecproxy.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  let running = true;
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      running = false;
      resolve();
    };
    child.once('close', done);
    child.once('error', (error) => {
      output += `cannot run ${RADSECPROXY}: ${error.message}\n`;
      done();
    });
  });
  t.teardown(async () => {
    if (running) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await udpBound(port))) {
    if (!running || Date.now() > deadline) {
      throw new Error(`radsecproxy did not bind 127.0.0.1:${port}:\n${output}`);
    }
    await sleep(20);
  }
  return { port, secret: PROXY_NAS_SECRET, output: () => output };
}
