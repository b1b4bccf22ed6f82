import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { ConfigError } from '../errors/config-error.js';
import { createLogger } from '../logging/logger.js';
import {
  credentialsFromEnv,
  isLoopbackHost,
  requireCredentialsOffLoopback,
  UI_PASSWORD_VARIABLE,
  UI_USER_VARIABLE,
} from '../ui/basic-auth.js';
import { createWarrenUi } from '../ui/warren-ui.js';
import { DEFAULT_UI_OPTIONS, DEFAULT_UI_PORT } from '../ui/warren-ui-options.js';
import { loadRegistryIfAny } from './cli-context.js';

const HELP =
  "\nPages: every job type (from the handlers module, and from the queues of the namespace when RabbitMQ's\n" +
  'management API answers) with its queue depth, unacknowledged messages, consumers, rates, dead letters and retry\n' +
  'tiers; the dead letters of a job type (paged, filtered by reason and text, each with its payload, x-warren-*\n' +
  'headers and stack); the schedules with their next fires and last fire. Actions, each confirmed first: replay one,\n' +
  'the selection or all dead letters and purge them (the code of `warren dlq replay` and `purge`), trigger a schedule\n' +
  '(as `warren schedules trigger`).\n' +
  `\nBound to 127.0.0.1 unless --host says otherwise; any other address needs ${UI_USER_VARIABLE} and\n` +
  `${UI_PASSWORD_VARIABLE} (HTTP basic auth, which they turn on for any address). Every action is a POST with a\n` +
  'CSRF token from the same origin; a strict Content-Security-Policy applies. The UI keeps no state of its own.\n' +
  'Examples:\n  warren ui\n  warren ui --read-only --port 8080\n' +
  `  ${UI_USER_VARIABLE}=ops ${UI_PASSWORD_VARIABLE}=secret warren ui --host 0.0.0.0`;

/** `warren ui [--port 9465] [--host 127.0.0.1] [--read-only]`: serves the web UI until a signal stops it. */
export function uiCommand(): Command {
  return new Command('ui')
    .description('Serve the web UI: queues, dead letters (replay, purge) and schedules in the browser')
    .option('--port <port>', 'port to listen on (0 picks a free one)', portNumber, DEFAULT_UI_PORT)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--read-only', 'show everything, change nothing: no action buttons, and every POST is refused')
    .option('--handlers <module>', 'handlers module (default: handlers/index.* if present)')
    .option(
      '--management-url <url>',
      "RabbitMQ's management API, or none (default: http://<broker host>:15672 with the AMQP user)",
    )
    .addHelpText('after', HELP)
    .action(
      async (options: {
        port: number;
        host: string;
        readOnly?: boolean;
        handlers?: string;
        managementUrl?: string;
      }) => {
        const config = loadConfig();
        const auth = credentialsFromEnv(process.env);
        // Before anything loads or connects: an exposed UI without a password must not start.
        requireCredentialsOffLoopback(options.host, auth);
        const logger = createLogger(config.logLevel);
        const { registry, schedules, path } = await loadRegistryIfAny(options.handlers, config);
        const ui = createWarrenUi({
          config,
          logger,
          registry,
          schedules,
          readOnly: options.readOnly === true,
          ...(auth === undefined ? {} : { auth }),
          ...(options.managementUrl === undefined ? {} : { managementUrl: options.managementUrl }),
          // Without auth the UI is on a loopback address: it answers to that address's names only.
          ...(auth === undefined && isLoopbackHost(options.host)
            ? { allowedHosts: [...new Set([...DEFAULT_UI_OPTIONS.loopbackHosts, hostName(options.host)])] }
            : {}),
        });
        const server = createServer(ui);
        const port = await listen(server, options.port, options.host);
        const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
        process.stderr.write(
          `warren: web UI on http://${shown}:${port}/ (namespace ${config.namespace}` +
            `${options.readOnly ? ', read-only' : ''}${auth === undefined ? '' : ', basic auth'}; ` +
            `${path === undefined ? 'no handlers module' : `job types of ${path}`})\n`,
        );
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          signals += 1;
          if (signals > 1) {
            process.stderr.write(`warren: ${signal} again, exiting now\n`);
            process.exit(1);
          }
          logger.info({ signal }, 'web UI stopping: replays in flight finish their copies, then it exits');
          void (async () => {
            await ui.close();
            await new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeIdleConnections();
            });
            logger.flush();
            process.exitCode = 0;
          })();
          // A browser holding a keep-alive connection must not keep the process alive.
          setTimeout(() => process.exit(0), 5_000).unref();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      },
    );
}

/** The host name as the `Host` header carries it: an IPv6 address in brackets. */
function hostName(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host.toLowerCase();
}

function portNumber(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value > 65_535) {
    throw new InvalidArgumentError('must be a port number, 0-65535');
  }
  return value;
}

/** Listens; resolves with the bound port. @throws ConfigError naming the port when it cannot be listened on */
async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'is already in use (EADDRINUSE)'
          : error.code === 'EACCES'
            ? 'may not be used by this process (EACCES)'
            : `cannot be listened on: ${error.message}`;
      reject(new ConfigError(`port ${port} on ${host} ${why}: pass --port with a free port`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
