import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import type { BrokerConnection } from './broker-connection.js';

/** Options of a {@link ManagedChannel}. */
export interface ManagedChannelOptions<C extends Channel> {
  readonly name: string;
  readonly confirm: C extends ConfirmChannel ? true : boolean;
  /** Runs on every new channel before it is handed out: declare topology, set prefetch, consume. */
  readonly setup: (channel: C, connection: ChannelModel) => Promise<void>;
  /** Called when a channel this object handed out has closed, for whatever reason. */
  readonly onClose?: (channel: C) => void;
  /**
   * Called with the error that closed a channel (a channel-level exception from the broker). Returns true when it
   * logged the error itself, in words of its own; otherwise the error is logged as a warning.
   */
  readonly onError?: (channel: C, error: Error) => boolean;
  readonly logger: Logger;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * One AMQP channel kept open: created on every (re)connect, re-created after a channel-level error on a live
 * connection (amqp-connection-manager's own wrapper waits for the next reconnect instead), with its setup re-run
 * each time. Deliveries and confirms stay tied to the raw channel they belong to.
 */
export class ManagedChannel<C extends Channel> {
  readonly #connection: BrokerConnection;
  readonly #options: ManagedChannelOptions<C>;
  readonly #logger: Logger;
  #current: C | undefined;
  #closing = false;
  #opening: Promise<void> | undefined;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #onConnect = ({ connection }: { connection: unknown }): void => {
    void this.#open(connection as ChannelModel).catch(() => {});
  };

  constructor(connection: BrokerConnection, options: ManagedChannelOptions<C>) {
    this.#connection = connection;
    this.#options = options;
    this.#logger = options.logger.child({ channel: options.name });
  }

  /** The open channel, or `undefined` while disconnected or re-opening. */
  get current(): C | undefined {
    return this.#current;
  }

  /** Opens the channel on the current connection and keeps it open; rejects if the first setup fails. */
  async start(): Promise<void> {
    this.#connection.manager.on('connect', this.#onConnect);
    const model = this.#connection.manager.connection;
    if (model) await this.#open(model);
  }

  async #open(model: ChannelModel): Promise<void> {
    if (this.#closing) return;
    if (this.#opening) return this.#opening;
    this.#opening = (async () => {
      let channel: C | undefined;
      try {
        channel = (this.#options.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C;
        const opened = channel;
        opened.on('error', (err: Error) => {
          if (this.#options.onError?.(opened, err) !== true) this.#logger.warn({ err }, 'channel error');
        });
        opened.on('close', () => this.#closed(model, opened));
        await this.#options.setup(opened, model);
        if (this.#closing) {
          await opened.close().catch(() => {});
          return;
        }
        this.#current = opened;
        this.#failures = 0;
      } catch (error) {
        this.#failures += 1;
        await channel?.close().catch(() => {});
        this.#logger.error({ err: error, failures: this.#failures }, 'channel setup failed');
        this.#scheduleReopen(model);
        throw error;
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }

  #closed(model: ChannelModel, channel: C): void {
    if (this.#current === channel) this.#current = undefined;
    this.#options.onClose?.(channel);
    // A channel-level error closes only this channel: re-open it on the same connection. A lost connection
    // is handled by the 'connect' listener when amqp-connection-manager has reconnected.
    if (!this.#closing && this.#connection.manager.connection === model) this.#scheduleReopen(model);
  }

  #scheduleReopen(model: ChannelModel): void {
    if (this.#closing || this.#retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.#failures, 10));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#connection.manager.connection === model) void this.#open(model).catch(() => {});
    }, delay);
  }

  /** Closes the channel and stops re-opening it. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#connection.manager.removeListener('connect', this.#onConnect);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#opening?.catch(() => {});
    const channel = this.#current;
    this.#current = undefined;
    await channel?.close().catch(() => {});
  }
}
