#!/usr/bin/env node
/**
 * The `portcullis` command line.
 *
 *   portcullis serve [config.yaml]         start the server (default: the development config)
 *   portcullis check-config [config.yaml]  validate a configuration and exit
 *   portcullis reload [config.yaml]        ask the running server (operations HTTP listener of
 *                                          that configuration) to reload its configuration
 *
 * Signals of `serve`: SIGHUP reloads the configuration; SIGTERM and SIGINT drain unfinished
 * conversations for `operations.drain_seconds`, then exit 0.
 * Exit codes: 0 success, 1 runtime failure or refused reload, 2 invalid configuration or usage.
 */
import { ConfigError, PortcullisError } from './errors.ts';
import { loadConfig, resolveConfigPath } from './config/index.ts';
import { start } from './main.ts';

const USAGE = 'usage: portcullis serve|check-config|reload [config.yaml]';

async function main(argv: readonly string[]): Promise<number> {
  const [verb, path, ...extra] = argv;
  if (extra.length > 0) return usage();
  switch (verb) {
    case 'serve':
      return serve(resolveConfigPath(path));
    case 'check-config':
      return checkConfig(resolveConfigPath(path));
    case 'reload':
      return reload(resolveConfigPath(path));
    default:
      return usage();
  }
}

function usage(): number {
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

async function checkConfig(path: string): Promise<number> {
  const config = await loadConfig(path);
  process.stdout.write(`${path}: valid (${config.clients.length} clients, ${config.policy.rules.length} rules)\n`);
  for (const warning of config.warnings) process.stdout.write(`warning: ${warning}\n`);
  return 0;
}

async function reload(path: string): Promise<number> {
  const { http } = (await loadConfig(path)).operations;
  if (!http.enabled) throw new PortcullisError('reload-unavailable', 'operations.http is disabled: send SIGHUP to the server process');
  const host = http.address.includes(':') ? `[${http.address}]` : http.address;
  const url = `http://${host}:${http.port}/reload`;
  const response = await fetch(url, { method: 'POST' }).catch((error: unknown) => {
    throw new PortcullisError('reload-unavailable', `cannot reach the operations listener at ${url}: is the server running with this configuration?`, { cause: error });
  });
  const outcome = (await response.json()) as { ok: boolean; problems?: string[] };
  if (outcome.ok) {
    process.stdout.write('configuration reloaded\n');
    return 0;
  }
  process.stderr.write(`reload refused, the running configuration stays:\n  ${(outcome.problems ?? []).join('\n  ')}\n`);
  return 1;
}

async function serve(path: string): Promise<number> {
  const running = await start(path);
  process.on('SIGHUP', () => {
    running.logger.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    void running.reload();
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  running.logger.info({ signal }, 'stopping');
  await running.shutdown();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof PortcullisError) {
      process.stderr.write(`portcullis: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`portcullis: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
