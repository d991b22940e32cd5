/**
 * A real `openssl ocsp` responder that only loopback can reach, behind a front that can misbehave.
 *
 * OpenSSL 3.0's `openssl ocsp -port N` listens on every address ([::]) and takes no bind address.
 * So it runs in a network namespace of its own (`unshare -rn`), whose only interface is a loopback
 * brought up for it: no address of the host, loopback or not, leads there, and nothing outside
 * the namespace can connect to it. A small bridge inside the namespace (`ocsp-netns-bridge.ts`)
 * relays a Unix socket to it, since the filesystem is shared across namespaces.
 *
 * The tests talk to the front: an HTTP server bound to 127.0.0.1 on port 0 (its URL is known
 * before the PKI is built, so it can go into the clients' AIA), which forwards each POST to the
 * Unix socket and can tamper with the answer, answer for another certificate, fail, or stall.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import type { BridgeReady } from './ocsp-netns-bridge.ts';
import { responderArgs, type OcspPki, type OcspSignerKind } from './ocsp-pki.ts';

/**
 * What the front does with a request:
 * - `pass`: forwards it and returns the answer;
 * - `tamper`: flips one byte inside the signature value of the answer;
 * - `wrong-certificate`: forwards a request for the `good` client instead, whatever was asked;
 * - `unavailable`: answers HTTP 503 itself;
 * - `down`: destroys the connection without an answer;
 * - `slow`: waits {@link OcspFront.setMode}'s delay, then forwards.
 */
export type FrontMode = 'pass' | 'tamper' | 'wrong-certificate' | 'unavailable' | 'down' | 'slow';

const BRIDGE = fileURLToPath(new URL('./ocsp-netns-bridge.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const MAX_REQUEST_BYTES = 65_536;
const STOP_GRACE_MS = 2_000;
const START_TIMEOUT_MS = 15_000;

/** The responder processes: the bridge, and openssl in the bridge's process group. */
interface Bridge {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ready: BridgeReady;
}

/** The test-facing HTTP front of the namespaced `openssl ocsp`. */
export class OcspFront {
  /** `http://127.0.0.1:PORT/`, the URL to query and to put in the clients' AIA. */
  readonly url: string;
  readonly #server: Server;
  readonly #socketDir = mkdtempSync(join(tmpdir(), 'portcullis-ocsp-netns-'));
  readonly #socket = join(this.#socketDir, 'responder.sock');
  #bridge: Bridge | undefined;
  #substitute: Buffer | undefined;
  #mode: FrontMode = 'pass';
  #delayMs = 0;
  #requests = 0;

  private constructor(server: Server) {
    this.#server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  /** Binds the front to 127.0.0.1 on a free port; {@link start} then brings the responder up. */
  static async listen(): Promise<OcspFront> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const front = new OcspFront(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void front.#handle(req, res));
    return front;
  }

  /** The address the front is bound to. */
  get address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** POST requests received since the start. */
  get requests(): number {
    return this.#requests;
  }

  /** What the bridge saw inside the namespace: openssl's port and the interfaces there. */
  get namespace(): BridgeReady {
    if (this.#bridge === undefined) throw new Error('the responder is not started');
    return this.#bridge.ready;
  }

  /**
   * Starts `openssl ocsp` on the PKI's index, signing with `signer`, in a fresh network namespace;
   * a running responder is stopped first, so a test can switch signers.
   */
  async start(pki: OcspPki, options: { readonly signer: OcspSignerKind }): Promise<void> {
    await this.#stopBridge();
    rmSync(this.#socket, { force: true });
    const requestFile = join(this.#socketDir, 'good.req');
    // The genuine question about another certificate, for the `wrong-certificate` mode.
    execFileSync('openssl', ['ocsp', '-issuer', pki.rootCert, '-cert', pki.clients.good.leaf, '-no_nonce', '-reqout', requestFile], { stdio: 'pipe' });
    this.#substitute = readFileSync(requestFile);

    const bridge = [process.execPath, '--import', TSX, BRIDGE, this.#socket, ...responderArgs(pki, options.signer)];
    // `unshare -rn`: new user and network namespaces; the bridge execs in place of the shell, and
    // `detached` gives it a process group of its own that openssl joins, so stop() ends both.
    const child = spawn('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...bridge], { detached: true, stdio: 'pipe' });
    try {
      this.#bridge = { child, ready: await readyLine(child) };
    } catch (error) {
      signalGroup(child, 'SIGKILL');
      throw error;
    }
  }

  /** Switches the front's behaviour; `delayMs` is the stall of the `slow` mode. */
  setMode(mode: FrontMode, delayMs = 0): void {
    this.#mode = mode;
    this.#delayMs = delayMs;
  }

  /** Stops the responder (the whole process group) and the front. */
  async stop(): Promise<void> {
    await this.#stopBridge();
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
    rmSync(this.#socketDir, { recursive: true, force: true });
  }

  async #stopBridge(): Promise<void> {
    const bridge = this.#bridge;
    this.#bridge = undefined;
    if (bridge === undefined || bridge.child.exitCode !== null || bridge.child.signalCode !== null) return;
    const exited = once(bridge.child, 'exit');
    signalGroup(bridge.child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(bridge.child, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#requests += 1;
    const closed = new AbortController();
    res.on('close', () => closed.abort());
    try {
      const asked = await readBody(req);
      switch (this.#mode) {
        case 'down':
          req.socket.destroy();
          return;
        case 'unavailable':
          res.writeHead(503).end();
          return;
        case 'slow':
          await sleep(this.#delayMs, undefined, { signal: closed.signal });
          break;
        case 'pass':
        case 'tamper':
        case 'wrong-certificate':
          break;
        default:
          this.#mode satisfies never;
      }
      const question = this.#mode === 'wrong-certificate' && this.#substitute !== undefined ? this.#substitute : asked;
      const answer = await forward(this.#socket, question);
      if (this.#mode === 'tamper') flipSignatureByte(answer.body);
      res.writeHead(answer.status, { 'Content-Type': 'application/ocsp-response' }).end(answer.body);
    } catch {
      // The client left (slow mode) or the responder is gone: a gateway error if anyone listens.
      if (!res.headersSent && !res.destroyed) res.writeHead(502).end();
    }
  }
}

/** Signals the bridge's process group (the bridge and openssl), if it is still there. */
function signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Waits for the bridge's {@link BridgeReady} line. */
async function readyLine(child: ChildProcessWithoutNullStreams): Promise<BridgeReady> {
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<BridgeReady>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const line = stdout.split('\n', 2);
        if (line.length === 2) resolve(JSON.parse(line[0]!) as BridgeReady);
      });
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`the OCSP responder did not start (exit ${code}): ${stderr}`)));
      timer = setTimeout(() => reject(new Error(`the OCSP responder did not start in ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    });
  } finally {
    clearTimeout(timer);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_REQUEST_BYTES) throw new Error('request too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** POSTs the OCSP request to the responder through the bridge's Unix socket. */
async function forward(socketPath: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const outgoing = request({ socketPath, agent: false, method: 'POST', path: '/', headers: { 'Content-Type': 'application/ocsp-request', 'Content-Length': body.length } });
  outgoing.end(body);
  const [response] = (await once(outgoing, 'response')) as [IncomingMessage];
  return { status: response.statusCode ?? 502, body: await readBody(response) };
}

/** Flips a byte in the middle of the BasicOCSPResponse signature value, in place. */
function flipSignatureByte(der: Buffer): void {
  const bytes = AsnConvert.parse(der, OCSPResponse).responseBytes;
  if (bytes === undefined) throw new Error('no responseBytes to tamper with');
  const signature = Buffer.from(AsnConvert.parse(bytes.response.buffer, BasicOCSPResponse).signature);
  const at = der.indexOf(signature);
  if (at < 0) throw new Error('signature not found in the response');
  der[at + (signature.length >> 1)]! ^= 0x01;
}
