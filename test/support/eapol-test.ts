/**
 * Runs the real `eapol_test` (hostapd's EAP peer + RADIUS client, Debian package `eapoltest`)
 * against a server and reports what it saw.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One eapol_test run. */
export interface EapolTestOptions {
  readonly port: number;
  readonly secret: string;
  /** PEM with the client certificate (and chain). */
  readonly clientCert: string;
  readonly privateKey: string;
  /** CA that signs the server certificate. */
  readonly caCert: string;
  readonly identity?: string;
  /** Lines added to the network block, e.g. `fragment_size=200`. */
  readonly networkLines?: readonly string[];
  /** `tls_disable_tlsv1_3=0` style phase1 options. */
  readonly phase1?: string;
  /** Extra command line arguments, e.g. `-e`, `-r1`, `-N12:d:300`. */
  readonly args?: readonly string[];
  readonly timeoutSeconds?: number;
}

/** What eapol_test printed, digested. */
export interface EapolTestResult {
  readonly success: boolean;
  readonly exitCode: number;
  /** "MPPE keys OK: N  mismatch: M". */
  readonly mppeOk: number;
  readonly mppeMismatch: number;
  /** Code name of the last RADIUS packet received (`Access-Accept`, `Access-Reject`, ...). */
  readonly lastReplyCode: string;
  /** Attributes of the last RADIUS packet received: eapol_test's name -> values as hex. */
  readonly lastReplyAttributes: ReadonlyMap<string, string[]>;
  readonly tlsVersions: readonly string[];
  readonly resumedHandshakes: number;
  readonly keyNameMatched: number;
  readonly output: string;
}

/** TLS 1.3 is off by default in eapol_test 2.10; this turns it on (FIELD-NOTES). */
export const ENABLE_TLS13 = 'tls_disable_tlsv1_3=0';
/** Keeps eapol_test on TLS 1.2. */
export const ONLY_TLS12 = 'tls_disable_tlsv1_3=1';

/** Runs eapol_test once. */
export async function runEapolTest(options: EapolTestOptions): Promise<EapolTestResult> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-eapol-'));
  const conf = join(dir, 'eapol.conf');
  const lines = [
    'network={',
    '  key_mgmt=WPA-EAP',
    '  eap=TLS',
    `  identity="${options.identity ?? 'device'}"`,
    `  ca_cert="${options.caCert}"`,
    `  client_cert="${options.clientCert}"`,
    `  private_key="${options.privateKey}"`,
    ...(options.phase1 === undefined ? [] : [`  phase1="${options.phase1}"`]),
    ...(options.networkLines ?? []).map((line) => `  ${line}`),
    '}',
  ];
  await writeFile(conf, `${lines.join('\n')}\n`);
  const args = [
    `-c${conf}`,
    '-a127.0.0.1',
    `-p${options.port}`,
    `-s${options.secret}`,
    `-t${options.timeoutSeconds ?? 10}`,
    ...(options.args ?? []),
  ];
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile('eapol_test', args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const exit = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code: exit, output: `${stdout}${stderr}` });
    });
  });
  return digest(code, output);
}

function digest(exitCode: number, output: string): EapolTestResult {
  const mppe = /MPPE keys OK: (\d+)\s+mismatch: (\d+)/.exec(output);
  const lines = output.split('\n');
  // A received packet is announced by "Received RADIUS message", then "RADIUS message: code=N (Name)"
  // and one "Attribute" line per attribute, each followed by its value in hex.
  let lastReply = new Map<string, string[]>();
  let lastReplyCode = '';
  let announced = false;
  let current: Map<string, string[]> | undefined;
  for (const line of lines) {
    if (line.startsWith('Received RADIUS message')) {
      announced = true;
      continue;
    }
    const header = /^RADIUS message: code=\d+ \((.+)\)/.exec(line);
    if (header !== null) {
      current = announced ? new Map() : undefined;
      if (current !== undefined) {
        lastReply = current;
        lastReplyCode = header[1] ?? '';
      }
      announced = false;
      continue;
    }
    if (current === undefined) continue;
    const attr = /^\s+Attribute \d+ \((.+)\) length=\d+$/.exec(line);
    if (attr !== null) {
      const name = attr[1] ?? '';
      current.set(name, [...(current.get(name) ?? []), '']);
      continue;
    }
    const value = /^\s+Value: ([0-9a-f]*)$/.exec(line);
    if (value !== null) {
      const list = current.get([...current.keys()].at(-1) ?? '');
      if (list !== undefined) list[list.length - 1] = value[1] ?? '';
      continue;
    }
    current = undefined;
  }
  return {
    success: exitCode === 0 && /^SUCCESS$/m.test(output),
    exitCode,
    mppeOk: mppe === null ? 0 : Number(mppe[1]),
    mppeMismatch: mppe === null ? 0 : Number(mppe[2]),
    lastReplyCode,
    lastReplyAttributes: lastReply,
    tlsVersions: [...output.matchAll(/SSL: Using TLS version (TLSv1\.\d)/g)].map((m) => m[1] ?? ''),
    resumedHandshakes: (output.match(/Handshake finished - resumed=1/g) ?? []).length,
    keyNameMatched: (output.match(/Locally derived EAP Session-Id matches EAP-Key-Name from server/g) ?? []).length,
    output,
  };
}
