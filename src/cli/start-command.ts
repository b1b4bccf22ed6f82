import { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logging/logger.js';
import { HealthServer } from '../metrics/http-server.js';
import { Worker } from '../worker/worker.js';
import { loadRegistry } from './cli-context.js';

/** `warren start`: consumers for every registered handler plus the HTTP server. */
export function startCommand(): Command {
  return new Command('start')
    .description('Run the worker: consume every registered job type, serve /livez and /readyz; SIGTERM drains gracefully')
    .option('--handlers <module>', 'handlers module (.js, .mjs or .ts) exporting `handlers`; default: handlers/index.{js,mjs,ts}')
    .addHelpText(
      'after',
      '\nOn SIGTERM or SIGINT: stop taking jobs, let in-flight jobs finish (WARREN_SHUTDOWN_GRACE_MS, default 30s),\n' +
        'then abort them and exit 0. A second signal exits 1 at once.',
    )
    .action(async (options: { handlers?: string }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const { registry, path } = await loadRegistry(options.handlers, config);
      const worker = new Worker({ config, registry, logger });
      const http = new HealthServer({ port: config.httpPort, ready: () => worker.ready });

      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals > 1) {
          logger.error({ signal }, 'second signal: exiting now');
          process.stderr.write(`warren: ${signal} again, exiting without waiting for in-flight jobs\n`);
          process.exit(1);
        }
        logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight jobs');
        void shutdown(0);
      };
      const shutdown = async (code: number): Promise<void> => {
        await worker.stop();
        await http.stop();
        logger.flush();
        process.exitCode = code;
        // Connections are closed; anything left (a handler ignoring its signal) must not keep the process alive.
        setTimeout(() => process.exit(code), 200).unref();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);

      try {
        const port = await http.start();
        await worker.start();
        const lines = worker
          .describe()
          .map((q) => `  ${q.jobType} → ${q.queue} (concurrency ${q.concurrency})`)
          .join('\n');
        process.stderr.write(`warren: consuming from ${path}\n${lines}\nwarren: http://0.0.0.0:${port}/livez /readyz\n`);
      } catch (error) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await worker.stop();
        await http.stop();
        logger.flush();
        throw error;
      }
    });
}
