#!/usr/bin/env node
/**
 * The `portcullis` command line.
 *
 *   portcullis serve [config.yaml]         start the server (default: the development config)
 *   portcullis check-config [config.yaml]  validate a configuration and exit
 *
 * Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage.
 */
import { ConfigError, PortcullisError } from './errors.ts';
import { loadConfig, resolveConfigPath } from './config/index.ts';
import { start } from './main.ts';

const USAGE = 'usage: portcullis serve [config.yaml] | portcullis check-config [config.yaml]';

async function main(argv: readonly string[]): Promise<number> {
  const [verb, path, ...extra] = argv;
  if (extra.length > 0) return usage();
  switch (verb) {
    case 'serve':
      return serve(resolveConfigPath(path));
    case 'check-config':
      return checkConfig(resolveConfigPath(path));
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

async function serve(path: string): Promise<number> {
  const running = await start(path);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      running.logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await running.server.stop();
  running.logger.info('stopped');
  running.logger.flush();
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
