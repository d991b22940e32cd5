/**
 * Reading the configuration: YAML text -> validated, deep-frozen {@link Config}, or a
 * {@link ConfigError} listing every problem as `file:line path: message`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { buildConfigSchema } from './schema.ts';
import { deepFreeze, redactSecrets, revealSecrets } from './secrets.ts';
import type { Config } from './types.ts';
import { YamlSource } from './yaml-source.ts';
import type { ConfigPath } from './yaml-source.ts';
import { configErrorMap, flattenIssues } from './zod-issues.ts';

/** The environment variable naming the configuration file. */
export const CONFIG_ENV_VAR = 'PORTCULLIS_CONFIG';

/** The configuration used when neither an argument nor {@link CONFIG_ENV_VAR} names one. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/portcullis.dev.yaml', import.meta.url));

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** Directory relative paths are resolved against; default: the directory of `sourceName`. */
  readonly baseDir?: string;
}

/** A secret shorter than this is accepted with a warning (RFC 2865 §3 prefers 16 octets). */
const RECOMMENDED_SECRET_LENGTH = 16;

/** Start-up warnings: allowed, unwise settings. Each names its path and line; none holds a secret. */
function collectWarnings(config: Omit<Config, 'warnings'>, source: YamlSource): string[] {
  const warnings: Array<{ line: number; text: string }> = [];
  const warn = (path: ConfigPath, message: string): void => {
    warnings.push({ line: source.locate(path).line, text: source.problem(path, message) });
  };
  config.clients.forEach((client, index) => {
    if (client.secret.length < RECOMMENDED_SECRET_LENGTH) {
      const advice = `shorter than ${RECOMMENDED_SECRET_LENGTH} characters; use a long random secret (RFC 2865 §3)`;
      warn(['clients', index, 'secret'], advice);
    }
    if (!client.requireMessageAuthenticator) {
      warn(
        ['clients', index, 'require_message_authenticator'],
        'false: Access-Requests without Message-Authenticator are accepted (BlastRADIUS, CVE-2024-3596); only for legacy NAS',
      );
    }
    client.addresses.forEach((cidr, k) => {
      if (cidr.prefix === 0) {
        warn(['clients', index, 'address', k], `${cidr.text} accepts requests from every IPv${cidr.family} address`);
      }
    });
  });
  return byLine(warnings);
}

/** The texts, in the order of their lines in the file, each once. */
function byLine(items: Array<{ line: number; text: string }>): string[] {
  return [...new Set(items.sort((a, b) => a.line - b.line).map((item) => item.text))];
}

/**
 * Parses and validates configuration text.
 *
 * @param text - the YAML document
 * @param sourceName - the name problems are reported under (usually the file path)
 * @param options - `baseDir` for relative paths (default: the directory of `sourceName`)
 * @returns the deep-frozen configuration, defaults applied, paths absolute
 * @throws ConfigError listing every problem found as `file:line path: message`
 */
export function parseConfig(text: string, sourceName: string, options: ParseConfigOptions = {}): Config {
  const source = new YamlSource(text, sourceName);
  const syntax = source.syntaxProblems();
  if (syntax.length > 0) throw new ConfigError(syntax);
  let data: unknown;
  try {
    data = source.toData();
  } catch (error) {
    throw new ConfigError([`${sourceName}:1 yaml: ${error instanceof Error ? error.message : String(error)}`], { cause: error });
  }
  const baseDir = options.baseDir ?? dirname(resolve(sourceName));
  const result = buildConfigSchema({ baseDir }).safeParse(data, { error: configErrorMap });
  if (!result.success) {
    const problems = flattenIssues(result.error.issues).map(({ path, message }) => ({
      line: source.locate(path).line,
      text: source.problem(path, message),
    }));
    throw new ConfigError(byLine(problems));
  }
  const parsed = result.data;
  revealSecrets(parsed);
  const config: Config = deepFreeze({ ...parsed, warnings: collectWarnings(parsed, source) });
  // Kept beside the configuration, never in it: the text holds secrets and must not be logged.
  configSources.set(config, { text, sourceName, baseDir });
  return config;
}

/** The text a configuration was parsed from: enough for a worker thread to parse it again. */
export interface ConfigSource {
  readonly text: string;
  readonly sourceName: string;
  readonly baseDir: string;
}

const configSources = new WeakMap<Config, ConfigSource>();

/**
 * The source of a configuration made by {@link parseConfig}, to hand to a worker thread (a
 * configuration holds functions and cannot be posted); undefined for one built otherwise.
 */
export function configSource(config: Config): ConfigSource | undefined {
  return configSources.get(config);
}

/**
 * Reads, parses and validates a configuration file. Relative paths inside it are resolved
 * against the file's directory.
 *
 * @throws ConfigError when the file cannot be read or is not a valid configuration
 */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? ` (${String(error.code)})` : '';
    throw new ConfigError([`${path}: cannot read the configuration file${code}`], { cause: error });
  }
  return parseConfig(text, path, { baseDir: dirname(resolve(path)) });
}

/**
 * Which configuration file to use: the command-line argument, else the `PORTCULLIS_CONFIG`
 * environment variable, else `config/portcullis.dev.yaml` of this package. Empty values count as
 * absent.
 */
export function resolveConfigPath(argv?: string): string {
  if (argv !== undefined && argv !== '') return argv;
  const fromEnv = process.env[CONFIG_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return DEFAULT_CONFIG_PATH;
}

/**
 * A deep copy of the configuration fit for logs: every value the schema marks secret (client
 * secrets, the private key passphrase) replaced by `"[redacted]"`, networks as CIDR text, regular
 * expressions as `/source/flags`. Works on any part of a configuration too (one client).
 */
export function redactConfig(config: Config): unknown {
  return redactSecrets(config);
}
