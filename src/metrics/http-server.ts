import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors/config-error.js';

/** Options of the {@link HealthServer}. */
export interface HealthServerOptions {
  readonly port: number;
  /** `/readyz` answers 200 while this is true, 503 otherwise. */
  readonly ready: () => boolean;
  /** Lines `/readyz` adds below `ready` or `not ready` (which broker node each connection is on). */
  readonly readyDetail?: () => readonly string[];
  readonly host?: string;
  /** Served at `/metrics` (Prometheus text format) when given. */
  readonly metrics?: Registry;
  /** Where the port was set (`WARREN_HTTP_PORT`), named when it cannot be listened on. */
  readonly portSetting?: string;
}

/**
 * The HTTP server of `warren start`: `/livez` (the process answers), `/readyz` (connected, consuming, not
 * draining) and `/metrics` (Prometheus). No I/O until `start()`.
 */
export class HealthServer {
  readonly #options: HealthServerOptions;
  readonly #server: Server;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const reply = (status: number, body: string): void => {
        response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${body}\n`);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD') reply(405, 'method not allowed');
      else if (path === '/livez') reply(200, 'ok');
      else if (path === '/readyz') {
        const detail = this.#options.readyDetail?.() ?? [];
        const ready = this.#options.ready();
        reply(ready ? 200 : 503, [ready ? 'ready' : 'not ready', ...detail].join('\n'));
      } else if (path === '/metrics' && this.#options.metrics) {
        const registry = this.#options.metrics;
        registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: unknown) => reply(500, `metrics failed: ${String(err)}`),
        );
      } else reply(404, 'not found: try /livez, /readyz or /metrics');
    });
  }

  /**
   * Listens; resolves with the bound port (useful with port 0).
   * @throws ConfigError naming the port (and its setting) when it is taken or may not be used, the cause attached
   */
  async start(): Promise<number> {
    const { port, portSetting } = this.#options;
    const host = this.#options.host ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const why =
          error.code === 'EADDRINUSE'
            ? 'is already in use (EADDRINUSE)'
            : error.code === 'EACCES'
              ? 'may not be used by this process (EACCES: ports below 1024 need privileges)'
              : `cannot be listened on: ${error.message}`;
        const setting = portSetting === undefined ? '' : ` (${portSetting})`;
        const fix = portSetting === undefined ? '' : `: set ${portSetting} to a free port, or to 0 to pick one`;
        reject(
          new ConfigError(
            `port ${port}${setting} on ${host} ${why}, so /metrics, /livez and /readyz cannot be served${fix}`,
            { cause: error },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  /** Stops listening and closes idle keep-alive connections. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }
}
