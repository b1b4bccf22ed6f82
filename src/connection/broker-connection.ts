import { hostname } from 'node:os';
import { AmqpConnectionManagerClass, type AmqpConnectionManager } from 'amqp-connection-manager';
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { ConnectionError } from '../errors/connection-error.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import { coalesceWrites } from './coalesce-writes.js';
import { explainConnectionFailure } from './connection-failure.js';
import { redactUrl } from './redact-url.js';

/** Options of a {@link BrokerConnection}. */
export interface BrokerConnectionOptions {
  readonly url: string;
  /**
   * Where `url` came from, named by the messages that say what to check (`settingSource(config, 'amqpUrl')`).
   * @defaultValue `the amqpUrl setting`
   */
  readonly urlSource?: string | undefined;
  /** Shown as the connection's name in the management UI, after `warren`. */
  readonly purpose: 'publish' | 'consume' | 'admin';
  readonly heartbeatSeconds: number;
  readonly logger: Logger;
  readonly metrics?: WarrenMetrics | undefined;
}

/**
 * One AMQP connection that reconnects by itself (amqp-connection-manager), with startup that fails fast and
 * readably on wrong credentials or an unknown vhost. warren keeps publishing and consuming on separate ones:
 * RabbitMQ blocks publishing connections under alarms, and a channel error must not take consumers down.
 */
export class BrokerConnection {
  readonly manager: AmqpConnectionManager;
  readonly #options: BrokerConnectionOptions;
  readonly #logger: Logger;
  readonly #urlSource: string;
  #reconnects = 0;
  #everConnected = false;

  constructor(options: BrokerConnectionOptions) {
    this.#options = options;
    this.#urlSource = options.urlSource ?? 'the amqpUrl setting';
    this.#logger = options.logger.child({ component: 'connection', purpose: options.purpose });
    this.manager = new AmqpConnectionManagerClass(options.url, {
      heartbeatIntervalInSeconds: options.heartbeatSeconds,
      reconnectTimeInSeconds: 1,
      connectionOptions: {
        // Nagle's algorithm holds a small frame while an earlier one is unacknowledged, and the broker delays its
        // TCP ACK: a get after an ack waited ~40 ms, and a consumer at prefetch 10 stalled on its own acks. Frames
        // written in one tick still leave together: see coalesceWrites.
        noDelay: true,
        clientProperties: { connection_name: `warren ${options.purpose} ${hostname()}:${process.pid}` },
      },
    });
    const up = options.metrics?.connectionUp.labels(options.purpose);
    const reconnected = options.metrics?.reconnects.labels(options.purpose);
    up?.set(0);
    reconnected?.inc(0);
    this.manager.on('connect', ({ connection }) => {
      if (!coalesceWrites(connection))
        this.#logger.debug('the connection has no socket to coalesce writes on; each frame is written on its own');
      up?.set(1);
      if (this.#everConnected) {
        this.#reconnects += 1;
        reconnected?.inc();
        this.#logger.info({ reconnects: this.#reconnects }, 'reconnected to RabbitMQ');
      }
      this.#everConnected = true;
    });
    this.manager.on('disconnect', ({ err }) => {
      up?.set(0);
      this.#logger.warn({ err }, 'disconnected from RabbitMQ; reconnecting');
    });
    this.manager.on('connectFailed', ({ err }) => {
      if (this.#everConnected) {
        this.#logger.warn(
          { err: explainConnectionFailure(err, options.url, this.#urlSource).error },
          'reconnect failed; retrying',
        );
      }
    });
    this.manager.on('blocked', ({ reason }) => this.#logger.warn({ reason }, 'RabbitMQ blocked this connection'));
    this.manager.on('unblocked', () => this.#logger.info('RabbitMQ unblocked this connection'));
  }

  /** Reconnections since the first connect. */
  get reconnects(): number {
    return this.#reconnects;
  }

  isConnected(): boolean {
    return this.manager.isConnected();
  }

  /**
   * Connects, retrying refused or unreachable brokers until `timeoutMs`; a refused login or unknown vhost
   * rejects at once. After this resolves, the connection reconnects by itself forever.
   * @throws ConnectionError explaining what is wrong.
   */
  async start(timeoutMs: number): Promise<void> {
    const url = this.#options.url;
    await new Promise<void>((resolve, reject) => {
      let last: ConnectionError | undefined;
      const finish = (error?: ConnectionError): void => {
        clearTimeout(timer);
        this.manager.removeListener('connect', onConnect);
        this.manager.removeListener('connectFailed', onFailed);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = (): void => finish();
      const onFailed = ({ err }: { err: Error }): void => {
        const failure = explainConnectionFailure(err, url, this.#urlSource);
        last = failure.error;
        if (failure.fatal) finish(failure.error);
        else this.#logger.warn({ err: failure.error }, 'cannot connect yet; retrying');
      };
      const timer = setTimeout(
        () =>
          finish(
            new ConnectionError(
              `could not connect to ${redactUrl(url)} within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`,
              { cause: last },
            ),
          ),
        timeoutMs,
      );
      this.manager.on('connect', onConnect);
      this.manager.on('connectFailed', onFailed);
      this.manager.connect().catch(() => {
        // Outcomes arrive as events above; connect() itself only mirrors them.
      });
    }).catch(async (error: unknown) => {
      await this.close();
      throw error;
    });
  }

  /**
   * Runs `work` on a short-lived channel of this connection (declarations, passive checks): a channel error there
   * cannot disturb the long-lived channels.
   * @throws ConnectionError while disconnected
   */
  async withChannel<T>(work: (channel: Channel, model: ChannelModel) => Promise<T>): Promise<T> {
    const model = this.manager.connection;
    if (!model) throw new ConnectionError(`not connected to RabbitMQ at ${redactUrl(this.#options.url)}`);
    const channel = await model.createChannel();
    channel.on('error', () => {});
    try {
      return await work(channel, model);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    await this.manager.close();
    this.#options.metrics?.connectionUp.labels(this.#options.purpose).set(0);
  }
}
