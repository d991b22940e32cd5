/**
 * A real ClientHello from Node's TLS client, taken off an in-memory transport before any server
 * answers: each call has a fresh random (and, offering TLS 1.3, a fresh compatibility session ID).
 */
import tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RecordPipe } from './record-pipe.ts';

/** The first flight `tls.connect(options)` writes: the ClientHello record(s). */
export async function clientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const pipe = new RecordPipe();
  const socket = tls.connect({ socket: pipe, rejectUnauthorized: false, ...options });
  socket.on('error', () => undefined);
  while (pipe.pendingBytes === 0) await nextTurn();
  const hello = pipe.takeOutput();
  socket.destroy();
  return hello;
}
