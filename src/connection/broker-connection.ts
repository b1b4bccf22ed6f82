import { hostname } from 'node:os';
import { AmqpConnectionManagerClass, type AmqpConnectionManager } from 'amqp-connection-manager';
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { ConnectionError } from '../errors/connection-error.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import { probeAmqpPort } from './amqp-port-probe.js';
import { coalesceWrites } from './coalesce-writes.js';
import { explainConnectionFailure } from './connection-failure.js';
import { explainPortAnswer } from './not-amqp-broker.js';
import { brokerUrls, connectionOrder, nodeOf, processSeed, redactUrl } from '../config/broker-urls.js';

/**
 * Longest silence an attempt to connect waits through (amqplib's socket timeout, lifted once the connection is
 * open). A port that accepts connections but never answers AMQP (Redis's, an HTTP server's) would otherwise hold the
 * first attempt until the whole wait is over, with nothing to report.
 */
const MAX_ATTEMPT_SILENCE_MS = 5_000;

/** How long the probe that explains a silent attempt waits for the port to answer. */
const PROBE_TIMEOUT_MS = 1_000;

/** A failed attempt to connect while {@link BrokerConnection.start} waits for RabbitMQ. */
export interface ConnectRetry {
  /** Which of the process's connections it is: `publish`, `consume` or `admin`. */
  readonly purpose: BrokerConnectionOptions['purpose'];
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Since `start()` was called. */
  readonly elapsedMs: number;
  /** How long `start()` waits in all. */
  readonly timeoutMs: number;
  /** What went wrong, in words; amqplib's error is its `cause`. */
  readonly error: ConnectionError;
}

/** Options of a {@link BrokerConnection}. */
export interface BrokerConnectionOptions {
  /** The broker's URL, or the URLs of a cluster's nodes separated by commas (the `amqpUrl` setting). */
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
  /**
   * Told of each failed attempt while `start()` waits, to report it (the CLI prints one line each). Without it, each
   * is logged at `warn` as one line without a stack; the driver's error is logged at `debug` either way.
   */
  readonly onConnectRetry?: ((retry: ConnectRetry) => void) | undefined;
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
  /** amqplib's socket options: the manager reads them at every attempt, so `start()` can set the timeout. */
  readonly #socketOptions: { noDelay: boolean; timeout?: number; clientProperties: Record<string, string> };
  /** The URLs, in the order this process tries them (see `connectionOrder`). */
  readonly #urls: readonly string[];
  #reconnects = 0;
  #everConnected = false;
  /** The URL and `host:port` of the node the connection is on, while it is up. */
  #url: string | undefined;
  #node: string | undefined;

  constructor(options: BrokerConnectionOptions) {
    this.#options = options;
    this.#urlSource = options.urlSource ?? 'the amqpUrl setting';
    this.#logger = options.logger.child({ component: 'connection', purpose: options.purpose });
    this.#socketOptions = {
      // Nagle's algorithm holds a small frame while an earlier one is unacknowledged, and the broker delays its
      // TCP ACK: a get after an ack waited ~40 ms, and a consumer at prefetch 10 stalled on its own acks. Frames
      // written in one tick still leave together: see coalesceWrites.
      noDelay: true,
      timeout: MAX_ATTEMPT_SILENCE_MS,
      clientProperties: { connection_name: `warren ${options.purpose} ${hostname()}:${process.pid}` },
    };
    // Spread over the nodes: each process starts at a node of its own and moves on to the next at each reconnect.
    this.#urls = connectionOrder(brokerUrls(options.url), processSeed(hostname(), process.pid));
    this.manager = new AmqpConnectionManagerClass([...this.#urls], {
      heartbeatIntervalInSeconds: options.heartbeatSeconds,
      reconnectTimeInSeconds: 1,
      connectionOptions: this.#socketOptions,
    });
    const up = options.metrics?.connectionUp.labels(options.purpose);
    const reconnected = options.metrics?.reconnects.labels(options.purpose);
    up?.set(0);
    reconnected?.inc(0);
    const nodes = this.#urls.map(nodeOf);
    const onNode = (node: string | undefined): void => {
      for (const each of nodes)
        options.metrics?.connectionNode.labels(options.purpose, each).set(each === node ? 1 : 0);
    };
    onNode(undefined);
    this.manager.on('connect', ({ connection, url }) => {
      if (!coalesceWrites(connection))
        this.#logger.debug('the connection has no socket to coalesce writes on; each frame is written on its own');
      up?.set(1);
      this.#url = typeof url === 'string' ? url : undefined;
      this.#node = this.#url === undefined ? undefined : nodeOf(this.#url);
      onNode(this.#node);
      if (this.#everConnected) {
        this.#reconnects += 1;
        reconnected?.inc();
        this.#logger.info({ reconnects: this.#reconnects, node: this.#node }, 'reconnected to RabbitMQ');
      } else this.#logger.info({ node: this.#node }, 'connected to RabbitMQ');
      this.#everConnected = true;
    });
    // One line each at warn, the driver's error with its stack at debug: a broker away for a minute is a minute of
    // these.
    this.manager.on('disconnect', ({ err }) => {
      up?.set(0);
      const node = this.#node;
      const url = this.#url;
      this.#node = undefined;
      this.#url = undefined;
      onNode(undefined);
      this.#logger.debug({ err, node }, 'disconnected from RabbitMQ');
      this.#logger.warn(
        { reason: err?.message, node, ...(nodes.length > 1 ? { next: this.#nodeAfter(url) } : {}) },
        'disconnected from RabbitMQ; reconnecting',
      );
    });
    this.manager.on('connectFailed', ({ err, url }) => {
      if (this.#everConnected) {
        this.#logger.debug({ err }, 'reconnect failed');
        this.#logger.warn(
          {
            reason: explainConnectionFailure(err, attempted(url, options.url), this.#urlSource).error.message,
            ...(nodes.length > 1 ? { next: this.#nodeAfter(url) } : {}),
          },
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

  /** `host:port` of the node the connection is on, or `undefined` while it is down. */
  get node(): string | undefined {
    return this.#node;
  }

  /** The nodes in the order this process tries them. */
  get nodes(): readonly string[] {
    return this.#urls.map(nodeOf);
  }

  /** The node tried after `url`: the manager moves through the list, one node per attempt, and starts over. */
  #nodeAfter(url: unknown): string | undefined {
    const index = typeof url === 'string' ? this.#urls.indexOf(url) : -1;
    const next = this.#urls[(index + 1) % this.#urls.length];
    return next === undefined ? undefined : nodeOf(next);
  }

  /**
   * Connects, retrying refused or unreachable brokers until `timeoutMs`; a refused login or unknown vhost
   * rejects at once. Each failed attempt is reported (`onConnectRetry`, else a `warn` line). After this resolves,
   * the connection reconnects by itself forever.
   * @throws ConnectionError explaining what is wrong.
   */
  async start(timeoutMs: number): Promise<void> {
    const url = this.#options.url;
    const startedAt = Date.now();
    // Half the wait at most, so that even a silent port is reported once before the wait is over.
    this.#socketOptions.timeout = Math.max(1_000, Math.min(MAX_ATTEMPT_SILENCE_MS, Math.floor(timeoutMs / 2)));
    await new Promise<void>((resolve, reject) => {
      let last: ConnectionError | undefined;
      let attempts = 0;
      let done = false;
      const finish = (error?: ConnectionError): void => {
        done = true;
        clearTimeout(timer);
        this.manager.removeListener('connect', onConnect);
        this.manager.removeListener('connectFailed', onFailed);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = (): void => finish();
      const onFailed = ({ err, url: tried }: { err: Error; url?: unknown }): void => {
        attempts += 1;
        const attempt = attempts;
        const failure = explainConnectionFailure(err, attempted(tried, url), this.#urlSource);
        this.#logger.debug({ err, attempt }, 'connection attempt failed');
        if (failure.fatal) {
          finish(failure.error);
          return;
        }
        void this.#explainTimeout(err, attempted(tried, url), failure.error).then((error) => {
          if (done) return;
          last = error;
          this.#reportRetry({
            purpose: this.#options.purpose,
            attempt,
            elapsedMs: Date.now() - startedAt,
            timeoutMs,
            error,
          });
        });
      };
      const timer = setTimeout(
        () =>
          finish(
            new ConnectionError(
              `could not connect to ${this.#urls.length > 1 ? `any of ${this.#urls.map(redactUrl).join(', ')}` : redactUrl(url)} within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`,
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
   * An attempt that timed out says nothing of why: nothing accepted the connection, or something did and never
   * answered as a broker. A probe of its own tells them apart; anything else keeps `explained`.
   */
  async #explainTimeout(err: Error, url: string, explained: ConnectionError): Promise<ConnectionError> {
    const timedOut = err.message === 'connect ETIMEDOUT' || (err as { code?: unknown }).code === 'ETIMEDOUT';
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return explained;
    }
    // amqps: the probe speaks plain TCP, and a TLS port would not answer it either way.
    if (!timedOut || target.protocol !== 'amqp:') return explained;
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const port = Number(target.port || 5672);
    const answer = await probeAmqpPort(host, port, PROBE_TIMEOUT_MS);
    const message = explainPortAnswer(`${host}:${port}`, answer, this.#urlSource);
    return message === undefined ? explained : new ConnectionError(message, { cause: err });
  }

  #reportRetry(retry: ConnectRetry): void {
    if (this.#options.onConnectRetry) this.#options.onConnectRetry(retry);
    else {
      this.#logger.warn(
        { attempt: retry.attempt, elapsedMs: retry.elapsedMs, timeoutMs: retry.timeoutMs, reason: retry.error.message },
        'cannot connect yet; retrying',
      );
    }
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

/** The URL an attempt used (amqp-connection-manager names it in its events), else the whole setting. */
function attempted(url: unknown, setting: string): string {
  return typeof url === 'string' ? url : setting;
}
