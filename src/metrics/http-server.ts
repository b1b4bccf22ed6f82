import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Options of the {@link HealthServer}. */
export interface HealthServerOptions {
  readonly port: number;
  /** `/readyz` answers 200 while this is true, 503 otherwise. */
  readonly ready: () => boolean;
  readonly host?: string;
  /** Served at `/metrics` (Prometheus text format) when given. */
  readonly metrics?: Registry;
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
        if (this.#options.ready()) reply(200, 'ready');
        else reply(503, 'not ready');
      } else if (path === '/metrics' && this.#options.metrics) {
        const registry = this.#options.metrics;
        registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: unknown) => reply(500, `metrics failed: ${String(err)}`),
        );
      } else reply(404, 'not found: try /livez, /readyz or /metrics');
    });
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
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
