/**
 * Runs the real `eapol_test` (hostapd's EAP peer + RADIUS client, Debian package `eapoltest`)
 * against a server and reports what it saw.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

/** One RADIUS message as eapol_test dumped it. */
export interface RadiusDump {
  /** `sent` to the server (Access-Request) or `received` from it. */
  readonly direction: 'sent' | 'received';
  /** Code name, e.g. `Access-Request`, `Access-Challenge`. */
  readonly code: string;
  /**
   * Attributes in order, each value as printed: hex for octet attributes (Tunnel-Type, State,
   * EAP-Key-Name), decimal for integers (Session-Timeout, Framed-MTU), the bare text without
   * eapol_test's quotes for text attributes (Reply-Message, Called-Station-Id).
   */
  readonly attributes: readonly RadiusAttributeDump[];
}

/**
 * One attribute as eapol_test dumped it. Attributes missing from its dictionary (Filter-Id, for
 * one) are named `?Unknown?` and printed without a value: use `type` and `length` for those.
 */
export interface RadiusAttributeDump {
  readonly type: number;
  readonly name: string;
  /** The whole attribute length, header included (RFC 2865 §5). */
  readonly length: number;
  readonly value: string;
}

/** One EAP-Request/EAP-TLS the supplicant received: whole EAP length and the EAP-TLS flags octet. */
export interface EapTlsRequestSeen {
  readonly length: number;
  /** RFC 5216 §3.1: 0x80 L, 0x40 M (more fragments), 0x20 S (start). */
  readonly flags: number;
}

/** A TLS alert the supplicant reported: `remote` = read from the server, `local` = its own. */
export interface TlsAlertSeen {
  readonly origin: 'local' | 'remote';
  /** OpenSSL's long description, e.g. `certificate revoked`, `unknown CA`. */
  readonly description: string;
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
  /**
   * Attributes of the last RADIUS packet received: eapol_test's name -> values as it prints them
   * (see {@link RadiusDump}): hex for octet attributes, decimal for integers, text for text.
   */
  readonly lastReplyAttributes: ReadonlyMap<string, string[]>;
  readonly tlsVersions: readonly string[];
  readonly resumedHandshakes: number;
  readonly keyNameMatched: number;
  readonly output: string;
  /** Every RADIUS message sent and received, in order. */
  readonly messages: readonly RadiusDump[];
  /** Reply-Message of the last RADIUS packet received, as text. */
  readonly replyMessage: string | undefined;
  /** Every EAP-TLS request the supplicant processed, in order. */
  readonly eapTlsRequests: readonly EapTlsRequestSeen[];
  /** Fragments the supplicant sent with more to follow (its own fragmentation, `fragment_size`). */
  readonly clientFragmentsSent: number;
  readonly tlsAlerts: readonly TlsAlertSeen[];
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
  await rm(dir, { recursive: true, force: true });
  return digest(code, output);
}

/** The RADIUS messages of a dump: "Sending/Received RADIUS message", a header, attribute/value lines. */
function radiusMessages(lines: readonly string[]): RadiusDump[] {
  const messages: RadiusDump[] = [];
  let direction: RadiusDump['direction'] | undefined;
  let current: { type: number; name: string; length: number; value: string }[] | undefined;
  for (const line of lines) {
    if (line.startsWith('Sending RADIUS message')) direction = 'sent';
    else if (line.startsWith('Received RADIUS message')) direction = 'received';
    const header = /^RADIUS message: code=\d+ \((.+)\)/.exec(line);
    if (header !== null) {
      current = undefined;
      if (direction !== undefined) {
        current = [];
        messages.push({ direction, code: header[1] ?? '', attributes: current });
      }
      direction = undefined;
      continue;
    }
    if (current === undefined) continue;
    const attr = /^\s+Attribute (\d+) \((.+)\) length=(\d+)$/.exec(line);
    const value = /^\s+Value: (.*)$/.exec(line);
    const last = current.at(-1);
    if (attr !== null) current.push({ type: Number(attr[1]), name: attr[2] ?? '', length: Number(attr[3]), value: '' });
    else if (value !== null && last !== undefined) last.value = (value[1] ?? '').replace(/^'(.*)'$/, '$1');
    else current = undefined;
  }
  return messages;
}

function digest(exitCode: number, output: string): EapolTestResult {
  const mppe = /MPPE keys OK: (\d+)\s+mismatch: (\d+)/.exec(output);
  const lines = output.split('\n');
  const messages = radiusMessages(lines);
  const lastReceived = messages.filter((m) => m.direction === 'received').at(-1);
  const lastReply = new Map<string, string[]>();
  for (const { name, value } of lastReceived?.attributes ?? []) lastReply.set(name, [...(lastReply.get(name) ?? []), value]);
  return {
    success: exitCode === 0 && /^SUCCESS$/m.test(output),
    exitCode,
    mppeOk: mppe === null ? 0 : Number(mppe[1]),
    mppeMismatch: mppe === null ? 0 : Number(mppe[2]),
    lastReplyCode: lastReceived?.code ?? '',
    lastReplyAttributes: lastReply,
    tlsVersions: [...output.matchAll(/SSL: Using TLS version (TLSv1\.\d)/g)].map((m) => m[1] ?? ''),
    resumedHandshakes: (output.match(/Handshake finished - resumed=1/g) ?? []).length,
    keyNameMatched: (output.match(/Locally derived EAP Session-Id matches EAP-Key-Name from server/g) ?? []).length,
    output,
    messages,
    replyMessage: lastReceived?.attributes.find((a) => a.name === 'Reply-Message')?.value,
    eapTlsRequests: [...output.matchAll(/SSL: Received packet\(len=(\d+)\) - Flags 0x([0-9a-f]{2})/g)].map((m) => ({
      length: Number(m[1]),
      flags: Number.parseInt(m[2] ?? '0', 16),
    })),
    clientFragmentsSent: (output.match(/SSL: sending \d+ bytes, more fragments will follow/g) ?? []).length,
    tlsAlerts: [...output.matchAll(/Status notification: (local|remote) TLS alert \(param=(.*)\)/g)].map((m) => ({
      origin: m[1] === 'local' ? 'local' : 'remote',
      description: m[2] ?? '',
    })),
  };
}
