/**
 * Structured logs (pino, JSON lines on stdout). Call sites never pass secrets or key material;
 * as a second line of defence, fields that commonly carry them are censored.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Field paths censored wherever they appear one or two levels deep. */
const REDACTED_PATHS = [
  'secret',
  'password',
  'passphrase',
  'privateKey',
  'msk',
  'emsk',
  '*.secret',
  '*.password',
  '*.passphrase',
  '*.privateKey',
  '*.msk',
  '*.emsk',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly level: string;
  /** Human-readable single lines instead of JSON. */
  readonly pretty: boolean;
  /** Where lines go; stdout by default (tests pass a stream to read them back). */
  readonly destination?: { write(line: string): unknown };
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: 'portcullis' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.pretty) {
    return pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, prettyStream(options.destination ?? process.stdout));
  }
  return options.destination === undefined ? pino(base) : pino(base, options.destination as pino.DestinationStream);
}

/** A minimal pretty printer: `time level msg key=value ...`, no extra dependency. */
function prettyStream(out: { write(line: string): unknown }): pino.DestinationStream {
  return {
    write(line: string): void {
      const { time, level, msg, service: _service, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const fields = Object.entries(rest)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      out.write(`${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)} ${fields}\n`);
    },
  };
}

/**
 * Writes a line another logger produced (a worker thread's JSON line) to `logger`'s destination
 * as it is: it was levelled and redacted where it was made.
 */
export function writeForeignLine(logger: Logger, line: string): void {
  (logger as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!.write(line);
}
