/**
 * Runs inside a private network namespace (started by `ocsp-responder.ts` through `unshare -rn`):
 * starts `openssl ocsp -port 0`, which listens on [::] of this namespace, where the loopback is the
 * only interface, and relays a Unix socket to it: the filesystem is shared across network
 * namespaces, the TCP port is not. Prints one JSON line ({@link BridgeReady}) once it accepts.
 * Exits, stopping openssl, on SIGTERM, when its stdin closes (the test process is gone) or when
 * openssl exits.
 *
 * Usage: `node --import tsx ocsp-netns-bridge.ts <socket path> <openssl ocsp arguments...>`
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';

/** The line the bridge prints on stdout when it is ready. */
export interface BridgeReady {
  /** The port openssl listens on, inside the namespace. */
  readonly port: number;
  /** Names and addresses of the namespace's network interfaces. */
  readonly interfaces: Readonly<Record<string, readonly string[]>>;
}

const [socketPath, ...opensslArgs] = process.argv.slice(2);
if (socketPath === undefined) throw new Error('usage: ocsp-netns-bridge <socket path> <openssl ocsp arguments...>');

const openssl = spawn('openssl', ['ocsp', ...opensslArgs, '-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
let relay: Server | undefined;
let banner = '';
let errors = '';

openssl.stdout.setEncoding('utf8').on('data', (chunk: string) => {
  if (relay !== undefined) return;
  banner += chunk;
  // OpenSSL 3.0 prints "ACCEPT [::]:PORT PID=..." on stdout once the listening socket is bound.
  const port = /ACCEPT \S*:(\d+)/.exec(banner)?.[1];
  if (port !== undefined) relay = startRelay(Number(port));
});
openssl.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors = `${errors}${chunk}`.slice(-4096)));
openssl.on('exit', (code, signal) => {
  process.stderr.write(`openssl ocsp exited (${signal ?? code}): ${errors}\n`);
  process.exit(1);
});

function startRelay(port: number): Server {
  const server = createServer((client) => {
    const upstream = connect({ port, host: '127.0.0.1', noDelay: true });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.listen(socketPath, () => {
    const interfaces = Object.fromEntries(Object.entries(networkInterfaces()).map(([name, list]) => [name, (list ?? []).map((entry) => entry.address)]));
    const ready: BridgeReady = { port, interfaces };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  return server;
}

function shutdown(): void {
  openssl.removeAllListeners('exit');
  openssl.kill('SIGKILL');
  relay?.close();
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.stdin.on('close', shutdown).resume();
