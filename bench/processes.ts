/** Small helpers for the processes the benchmarks start: free ports, readiness. */
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';

/** How long a server gets to start. */
const START_TIMEOUT_MS = 30_000;
const POLL_MS = 50;

/** A UDP port on 127.0.0.1 free now (the OS picks it). */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A TCP port on 127.0.0.1 free now (the OS picks it). */
export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Resolves once `ready()` holds; rejects with `output()` when the process exits first or after
 * the start timeout.
 */
export async function waitFor(child: ChildProcess, ready: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!ready()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not start within ${START_TIMEOUT_MS} ms:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
