import { Command } from 'commander';
import { flushTracing } from '../tracing/otel-api.js';
import type { JobMiddleware } from '../registry/job-definition.js';
import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig } from '../config/load-config.js';
import { ConfigError } from '../errors/config-error.js';
import { createLogger } from '../logging/logger.js';
import { Registry as PromRegistry } from 'prom-client';
import { HealthServer } from '../metrics/http-server.js';
import { WarrenMetrics } from '../metrics/warren-metrics.js';
import { Registry } from '../registry/registry.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import { Worker } from '../worker/worker.js';
import { loadRegistry, loadSchedules, printConnectRetry } from './cli-context.js';

const DRAIN_HELP =
  '\nThe module may also export `schedules` (defineSchedule results) and `middleware` (functions run around every\n' +
  'handler, first outermost).\n' +
  '\nOn SIGTERM or SIGINT: stop taking jobs, let in-flight jobs finish (WARREN_SHUTDOWN_GRACE_MS, default 30s),\n' +
  'then abort them and exit 0. A second signal exits 1 at once.';

/** `warren start`: consumers for every registered handler, the schedules, and the HTTP server. */
export function startCommand(): Command {
  return new Command('start')
    .description(
      'Run the worker: consume every registered job type, fire the schedules, serve /metrics, /livez and /readyz',
    )
    .option(
      '--handlers <module>',
      'handlers module exporting `handlers` (.js, .mjs, .cjs, .ts, .mts or .cts); default: the first handlers/index.* there is',
    )
    .addHelpText('after', DRAIN_HELP)
    .action(async (options: { handlers?: string }) => {
      const config = loadConfig();
      const { registry, path, schedules, middleware, whyNone } = await loadRegistry(options.handlers, config);
      if (registry.list().length === 0 && schedules.length === 0) {
        throw new ConfigError(
          `nothing to run: the handlers module ${path} registers no job types (its \`handlers\` array is empty), ` +
            `and there are no schedules: ${whyNone}`,
        );
      }
      await runService(config, registry, schedules, `consuming from ${path}`, middleware);
    });
}

/** `warren scheduler`: only the cron publisher (no consumers), plus the HTTP server. */
export function schedulerCommand(): Command {
  return new Command('scheduler')
    .description('Run only the cron publisher: fire the schedules, consume nothing')
    .option('--handlers <module>', 'module whose `schedules` export to add (default: handlers/index.* if present)')
    .addHelpText(
      'after',
      "\nSchedules come from config/schedules.json (or WARREN_SCHEDULES) and the handlers module's `schedules` export.\n" +
        'Any number of replicas may run: a per-fire lock in Redis (WARREN_REDIS_URL) elects one publisher per fire.',
    )
    .action(async (options: { handlers?: string }) => {
      const config = loadConfig();
      const { schedules, whyNone } = await loadSchedules(options.handlers, config);
      if (schedules.length === 0) {
        throw new ConfigError(
          `no schedules to run: ${whyNone}. Add them to config/schedules.json (or the file WARREN_SCHEDULES names), ` +
            'or export `schedules` from the handlers module',
        );
      }
      await runService(config, new Registry(), schedules, 'scheduler only');
    });
}

/** Runs a worker until a signal drains it; the only place that handles process signals. */
async function runService(
  config: WarrenConfig,
  registry: Registry,
  schedules: readonly ScheduleDefinition[],
  what: string,
  middleware: readonly JobMiddleware[] = [],
): Promise<void> {
  const logger = createLogger(config.logLevel);
  const metrics = new WarrenMetrics(new PromRegistry());
  const worker = new Worker({ config, registry, logger, schedules, metrics, onConnectRetry: printConnectRetry });
  for (const each of middleware) worker.use(each);
  const http = new HealthServer({
    port: config.httpPort,
    ready: () => worker.ready,
    readyDetail: () => {
      const { consume, publish } = worker.nodes;
      return [`consume: ${consume ?? 'disconnected'}`, `publish: ${publish ?? 'disconnected'}`];
    },
    metrics: metrics.registry,
    portSetting: 'WARREN_HTTP_PORT',
  });

  let signals = 0;
  const shutdown = async (): Promise<void> => {
    await worker.stop();
    // The spans of the last jobs, still in a batching processor: the exit below would drop them.
    await flushTracing(5_000);
    await http.stop();
    logger.flush();
    process.exitCode = 0;
    // Connections are closed; anything left (a handler ignoring its signal) must not keep the process alive.
    setTimeout(() => process.exit(0), 200).unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.error({ signal }, 'second signal: exiting now');
      process.stderr.write(`warren: ${signal} again, exiting without waiting for in-flight jobs\n`);
      process.exit(1);
    }
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight jobs');
    void shutdown();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const port = await http.start();
    await worker.start();
    const queues = worker
      .describe()
      .map((q) => `  ${q.jobType} → ${q.queue} (concurrency ${q.concurrency}, prefetch ${q.prefetch})`);
    const fires = schedules.map((s) => `  ${s.name}: "${s.cron}" (${s.timeZone}) → ${s.jobType}`);
    const locks = config.redisUrl === 'none' ? 'none: run a single scheduler' : 'per-fire locks in Redis';
    process.stderr.write(
      [
        `warren: ${what}`,
        ...queues,
        ...(fires.length > 0 ? [`warren: schedules (${locks})`, ...fires] : []),
        `warren: http://0.0.0.0:${port}/metrics /livez /readyz`,
      ].join('\n') + '\n',
    );
  } catch (error) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await worker.stop();
    await http.stop();
    logger.flush();
    throw error;
  }
}
