/**
 * Runs the real `radclient` (FreeRADIUS, Debian package `freeradius-utils`) against a server on
 * 127.0.0.1 and reports the reply it printed. Attributes go on stdin, one `Name = value` a line,
 * with FreeRADIUS's dictionary names.
 */
import { execFile } from 'node:child_process';

/** One radclient run: one request, sent once (`-r 1`), waiting `timeoutSeconds` for the reply. */
export interface RadclientOptions {
  readonly port: number;
  readonly secret: string;
  /** `status` (Status-Server), `acct` (Accounting-Request) or `auth` (Access-Request). */
  readonly command: 'status' | 'acct' | 'auth';
  /** Attribute lines, e.g. `Acct-Status-Type = Start`, `Acct-Session-Id = "s1"`. */
  readonly attributes: readonly string[];
  readonly timeoutSeconds?: number;
}

/** What radclient printed, digested. */
export interface RadclientResult {
  /** 0 when every request got a valid reply. */
  readonly exitCode: number;
  /** The code name of the reply (`Access-Accept`, `Accounting-Response`), undefined without one. */
  readonly replyCode: string | undefined;
  /** Attribute lines of the reply as printed, e.g. `Proxy-State = 0x0102`. */
  readonly replyAttributes: readonly string[];
  readonly output: string;
}

/** Runs radclient once; never rejects on what the server does (a timeout is `replyCode: undefined`). */
export async function runRadclient(options: RadclientOptions): Promise<RadclientResult> {
  const timeout = String(options.timeoutSeconds ?? 1);
  const args = ['-x', '-r', '1', '-t', timeout, `127.0.0.1:${options.port}`, options.command, options.secret];
  const { exitCode, output } = await new Promise<{ exitCode: number; output: string }>((resolve, reject) => {
    const child = execFile('radclient', args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = (error as (Error & { code?: unknown }) | null)?.code;
      if (error !== null && typeof code !== 'number') {
        reject(error);
        return;
      }
      resolve({ exitCode: typeof code === 'number' ? code : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(`${options.attributes.join('\n')}\n`);
  });
  const lines = output.split('\n');
  const received = lines.findIndex((line) => line.startsWith('Received '));
  const replyCode = received < 0 ? undefined : /^Received (\S+) Id /.exec(lines[received] ?? '')?.[1];
  const replyAttributes: string[] = [];
  if (received >= 0) {
    for (const line of lines.slice(received + 1)) {
      if (!line.startsWith('\t')) break;
      replyAttributes.push(line.trim());
    }
  }
  return { exitCode, replyCode, replyAttributes, output };
}
