/**
 * The composition root: configuration, logger, development PKI, the RADIUS server and the
 * operations HTTP listener wired together, with reload and shutdown. The only place that knows
 * every adapter.
 */
import { dirname, join } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig, redactConfig, type Config } from './config/index.ts';
import { ConfigError, PortcullisError } from './errors.ts';
import { startOpsHttpServer, type OpsHttpServer, type ReloadOutcome } from './obs/http-server.ts';
import { createLogger, type Logger } from './obs/logger.ts';
import { ensureDevPki } from './pki/dev-pki.ts';
import { RadiusServer } from './server/radius-server.ts';

/** Where the development configuration expects its PKI. */
const DEV_PKI_DIR = join(dirname(DEFAULT_CONFIG_PATH), '..', 'certs-dev', 'out');

/** A running portcullis. */
export interface Running {
  readonly logger: Logger;
  readonly server: RadiusServer;
  /** The operations listener, when enabled. */
  readonly http: OpsHttpServer | undefined;
  /** Reads the configuration file again and swaps it in; refused configurations leave the running one. */
  reload(): Promise<ReloadOutcome>;
  /** Stops new conversations, lets unfinished ones finish for `operations.drain_seconds`, then stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts portcullis from a configuration file. With the development configuration the dev PKI
 * is generated first when it is missing, so that the default start works on a fresh clone.
 */
export async function start(configPath: string): Promise<Running> {
  const devPki = configPath === DEFAULT_CONFIG_PATH ? await ensureDevPkiOrExplain() : undefined;
  const config = await loadConfig(configPath);
  const logger = createLogger(config.log);
  if (devPki?.created === true) logger.warn({ dir: DEV_PKI_DIR }, 'generated the development PKI: never use it in production');
  logger.debug({ config: redactConfig(config) }, 'configuration loaded');
  const server = await RadiusServer.start(config, logger);
  server.metrics.collectProcessMetrics();

  let reloading: Promise<ReloadOutcome> | undefined;
  const reload = (): Promise<ReloadOutcome> => {
    // One reload at a time: a SIGHUP during an HTTP reload joins it.
    reloading ??= reloadOnce(server, configPath, logger).finally(() => {
      reloading = undefined;
    });
    return reloading;
  };
  const http = config.operations.http.enabled ? await startHttp(config, server, reload, logger) : undefined;
  logger.info({ config: configPath, clients: config.clients.length, rules: config.policy.rules.length }, 'portcullis started');

  return {
    logger,
    server,
    http,
    reload,
    shutdown: async () => {
      const drainSeconds = server.context.config.operations.drainSeconds;
      logger.info({ in_flight: server.sessionsInFlight, drain_seconds: drainSeconds }, 'draining: no new conversations');
      const left = await server.drain(drainSeconds * 1000);
      if (left > 0) logger.warn({ abandoned: left }, 'drain time over: unfinished conversations abandoned');
      await server.stop();
      await http?.close();
      logger.info('stopped');
      logger.flush();
    },
  };
}

async function ensureDevPkiOrExplain(): Promise<{ created: boolean }> {
  try {
    return await ensureDevPki(DEV_PKI_DIR);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new PortcullisError(
      'dev-pki-failed',
      `cannot create the development PKI in ${DEV_PKI_DIR} (${reason}): pass a configuration file to serve`,
      { cause: error },
    );
  }
}

async function reloadOnce(server: RadiusServer, configPath: string, logger: Logger): Promise<ReloadOutcome> {
  try {
    await server.reload(() => loadConfig(configPath));
    logger.info({ config: configPath, clients: server.context.config.clients.length }, 'configuration reloaded');
    return { ok: true };
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems : [error instanceof Error ? error.message : String(error)];
    logger.error({ config: configPath, problems }, 'reload refused: the running configuration stays');
    return { ok: false, problems };
  }
}

async function startHttp(config: Config, server: RadiusServer, reload: () => Promise<ReloadOutcome>, logger: Logger): Promise<OpsHttpServer> {
  const { address, port } = config.operations.http;
  return startOpsHttpServer({
    address,
    port,
    logger,
    routes: {
      metrics: async () => {
        const registry = await server.metricsRegistry();
        return { contentType: registry.contentType, body: await registry.metrics() };
      },
      readiness: () => server.readiness(),
      reload,
    },
  });
}
