import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';

/**
 * A TCP proxy to the broker that a test can cut: `cut()` drops every connection and refuses new ones until
 * `restore()`; `hold()` keeps a connection open but stops passing on what its client sends, until `release()`. It
 * breaks one client's connection without touching the shared broker.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Client → broker: each connection's gate and where it leads, in the order the connections were accepted. */
  readonly #gates: Array<{ readonly gate: PassThrough; readonly upstream: Socket; held: boolean }> = [];
  #open = true;

  constructor(
    readonly targetPort: number,
    readonly targetHost = '127.0.0.1',
  ) {
    this.#server = createServer((client) => {
      if (!this.#open) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      const gate = new PassThrough();
      this.#gates.push({ gate, upstream, held: false });
      client.pipe(gate).pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  cut(): void {
    this.#open = false;
    for (const socket of this.#sockets) socket.destroy();
  }

  restore(): void {
    this.#open = true;
  }

  /**
   * Stops passing on what the client sends on the `index`th connection accepted (0 for the first), or on every
   * connection: it is kept, in order, until `release()`. What the broker sends still arrives.
   */
  hold(index?: number): void {
    for (const [at, entry] of this.#gates.entries()) {
      if (index !== undefined && at !== index) continue;
      if (!entry.held) entry.gate.unpipe(entry.upstream);
      entry.held = true;
    }
  }

  /** Passes on what was held, and everything after it. */
  release(): void {
    for (const entry of this.#gates) {
      if (entry.held) entry.gate.pipe(entry.upstream);
      entry.held = false;
    }
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
