/**
 * The composition root: configuration, logger, development PKI and server wired together.
 * The only place that knows every adapter.
 */
import { dirname, join } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig, redactConfig, type Config } from './config/index.ts';
import { createLogger, type Logger } from './obs/logger.ts';
import { ensureDevPki } from './pki/dev-pki.ts';
import { RadiusServer } from './server/radius-server.ts';

/** Where the development configuration expects its PKI. */
const DEV_PKI_DIR = join(dirname(DEFAULT_CONFIG_PATH), '..', 'certs-dev', 'out');

/** A running portcullis. */
export interface Running {
  readonly config: Config;
  readonly logger: Logger;
  readonly server: RadiusServer;
}

/**
 * Starts portcullis from a configuration file. With the development configuration the dev PKI
 * is generated first when it is missing, so that the default start works on a fresh clone.
 */
export async function start(configPath: string): Promise<Running> {
  const devPki = configPath === DEFAULT_CONFIG_PATH ? await ensureDevPki(DEV_PKI_DIR) : undefined;
  const config = await loadConfig(configPath);
  const logger = createLogger(config.log);
  if (devPki?.created === true) logger.warn({ dir: DEV_PKI_DIR }, 'generated the development PKI: never use it in production');
  logger.debug({ config: redactConfig(config) }, 'configuration loaded');
  const server = await RadiusServer.start(config, logger);
  logger.info({ config: configPath, clients: config.clients.length, rules: config.policy.rules.length }, 'portcullis started');
  return { config, logger, server };
}
