import type { ConfirmChannel, Message, Options } from 'amqplib';
import type { BrokerConnection } from '../connection/broker-connection.js';
import { ManagedChannel } from '../connection/managed-channel.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { PayloadTooLargeError } from '../errors/payload-too-large-error.js';
import { PublishBufferFullError } from '../errors/publish-buffer-full-error.js';
import { PublishRejectedError } from '../errors/publish-rejected-error.js';
import { PublishTimeoutError } from '../errors/publish-timeout-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import { startPublishSpan, type PublishSpan, type PublishTrace } from '../tracing/publish-span.js';
import type { PublisherOptions } from './publisher-options.js';

interface Pending {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: Options.Publish;
  readonly messageId: string;
  readonly resolve: (messageId: string) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** The channel it was last sent on; `undefined` while waiting in the buffer. */
  sentOn: ConfirmChannel | undefined;
  settled: boolean;
  /** Its publish span, while tracing is on; ended when it settles. */
  readonly span: PublishSpan | undefined;
}

type State = 'idle' | 'running' | 'stopping' | 'stopped';

/**
 * Confirm-channel publisher on its own connection. Every `send` resolves only when the broker confirmed
 * the message, and rejects with `UnroutableError` when it was returned (RabbitMQ sends `basic.return` before
 * the ack, so a confirm alone would report success for a message that went nowhere).
 *
 * Messages sent on a channel that closed before its confirm are sent again once a channel is back (at least
 * once; consumers de-duplicate by message id), until their publish timeout.
 */
export class Publisher {
  readonly #options: PublisherOptions;
  readonly #connection: BrokerConnection;
  readonly #channel: ManagedChannel<ConfirmChannel>;
  /** Not yet sent, in order. */
  #buffer: Pending[] = [];
  /** Sent, awaiting a confirm. */
  readonly #inFlight = new Set<Pending>();
  /** Message ids returned by the broker whose confirm has not arrived yet. */
  readonly #returned = new Map<string, number>();
  #hasRoom = true;
  #state: State = 'idle';
  #stopping: Promise<void> | undefined;
  /** Woken when nothing is buffered or unconfirmed (for `stop`). */
  readonly #idleWaiters: Array<() => void> = [];

  constructor(connection: BrokerConnection, options: PublisherOptions) {
    this.#options = options;
    this.#connection = connection;
    this.#channel = new ManagedChannel<ConfirmChannel>(connection, {
      name: 'publish',
      confirm: true,
      logger: options.logger,
      setup: async (channel) => {
        for (const exchange of options.exchanges) {
          await channel.assertExchange(exchange.name, exchange.type, { durable: true });
        }
        channel.on('return', (message: Message) => this.#onReturn(message));
        channel.on('drain', () => {
          this.#hasRoom = true;
          this.#flush();
        });
        this.#hasRoom = true;
        // The channel is handed out after setup; flush on the next tick when `current` is set.
        setImmediate(() => this.#flush());
      },
      onClose: (channel) => this.#onChannelClosed(channel),
    });
  }

  /** Publishes waiting for a connection. */
  get bufferLength(): number {
    return this.#buffer.length;
  }

  /** Published, awaiting the broker's confirm. */
  get unconfirmed(): number {
    return this.#inFlight.size;
  }

  /** Opens the confirm channel (the connection must be started). */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new IllegalStateError(`publisher cannot start: it is ${this.#state}`);
    this.#state = 'running';
    await this.#channel.start();
  }

  /**
   * Sends one message and resolves with its message id (`''` when it has none) when the broker confirmed it. While the application has registered an
   * OpenTelemetry tracer provider, the publish has a span (see src/tracing/publish-span.ts), child of the active
   * context unless `trace` says otherwise, and the message carries its trace context in its headers.
   * @throws PayloadTooLargeError, PublishBufferFullError, UnroutableError, PublishRejectedError, PublishTimeoutError
   */
  send(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
    trace?: PublishTrace,
  ): Promise<string> {
    // `undefined` unless tracing is on: the untraced path sends the caller's properties untouched.
    const span = startPublishSpan(exchange, routingKey, content, properties, trace, this.#connection.node);
    if (this.#state !== 'running') {
      return failed(span, new IllegalStateError(`cannot publish: the publisher is ${this.#state}`));
    }
    const messageId = String(properties.messageId ?? '');
    if (content.length > this.#options.maxPayloadBytes) {
      return failed(
        span,
        new PayloadTooLargeError(
          `message ${messageId} to ${exchange} "${routingKey}" is ${content.length} bytes; the limit is ${this.#options.maxPayloadBytes} bytes (maxPayloadBytes)`,
        ),
      );
    }
    const channel = this.#channel.current;
    // The bound is for waiting on a connection. While connected, publishes also queue here when the socket pushes
    // back (amqplib's publish returned false): they leave at its next drain, and refusing them would fail a burst
    // (10,000 publishes in flight from one client) that the broker takes in well under a second.
    if (channel === undefined && this.#buffer.length >= this.#options.publishBufferSize) {
      return failed(
        span,
        new PublishBufferFullError(
          `cannot publish message ${messageId}: not connected to RabbitMQ and ${this.#buffer.length} messages are already waiting (publishBufferSize)`,
        ),
      );
    }
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = {
        exchange,
        routingKey,
        content,
        properties: span?.properties ?? properties,
        messageId,
        resolve,
        reject,
        timer: undefined,
        sentOn: undefined,
        settled: false,
        span,
      };
      pending.timer = setTimeout(() => this.#timeout(pending), this.#options.publishTimeoutMs);
      if (channel !== undefined && this.#hasRoom && this.#buffer.length === 0) this.#write(channel, pending);
      else this.#buffer.push(pending);
    });
  }

  #write(channel: ConfirmChannel, pending: Pending): void {
    pending.sentOn = channel;
    this.#inFlight.add(pending);
    try {
      this.#hasRoom = channel.publish(
        pending.exchange,
        pending.routingKey,
        pending.content,
        pending.properties,
        (err: unknown) => this.#confirmed(pending, channel, err),
      );
    } catch (error) {
      // amqplib throws synchronously for frames it cannot encode (e.g. oversized headers) or a closed channel.
      this.#inFlight.delete(pending);
      if (channel !== this.#channel.current) {
        pending.sentOn = undefined;
        this.#buffer.unshift(pending);
        return;
      }
      this.#settle(pending, error instanceof Error ? error : new Error(String(error)));
    }
  }

  #flush(): void {
    let channel = this.#channel.current;
    while (channel !== undefined && this.#hasRoom && this.#buffer.length > 0) {
      const next = this.#buffer.shift() as Pending;
      this.#write(channel, next);
      channel = this.#channel.current;
    }
  }

  #confirmed(pending: Pending, channel: ConfirmChannel, err: unknown): void {
    if (pending.sentOn !== channel) return;
    const nacked = err instanceof Error && err.message === 'message nacked';
    // The channel closed before the confirm: leave it tied to that channel; #onChannelClosed sends every such
    // message again, in publish order, on the next channel (one by one here would reverse them).
    if (err !== null && err !== undefined && !nacked) return;
    this.#inFlight.delete(pending);
    // Returns are rare: most confirms skip hashing the id.
    const returned = this.#returned.size === 0 ? undefined : this.#returned.get(pending.messageId);
    if (returned !== undefined) {
      if (returned <= 1) this.#returned.delete(pending.messageId);
      else this.#returned.set(pending.messageId, returned - 1);
      this.#settle(
        pending,
        new UnroutableError(
          `message ${pending.messageId} was returned: no queue is bound to ${pending.exchange} for routing key "${pending.routingKey}" (is a worker for this job type declared?)`,
        ),
      );
      return;
    }
    if (err === null || err === undefined) {
      this.#settle(pending);
    } else {
      this.#settle(
        pending,
        new PublishRejectedError(
          `RabbitMQ rejected message ${pending.messageId} to ${pending.exchange} "${pending.routingKey}" (nack: a queue may be at its length limit)`,
        ),
      );
    }
  }

  #onReturn(message: Message): void {
    const id = String(message.properties.messageId ?? '');
    this.#returned.set(id, (this.#returned.get(id) ?? 0) + 1);
  }

  #onChannelClosed(channel: ConfirmChannel): void {
    // Unconfirmed messages of this channel go back to the front of the buffer, in the order they were published.
    const orphans = [...this.#inFlight].filter((pending) => pending.sentOn === channel && !pending.settled);
    for (const pending of orphans) {
      this.#inFlight.delete(pending);
      pending.sentOn = undefined;
    }
    this.#buffer = [...orphans, ...this.#buffer];
    this.#returned.clear();
  }

  #timeout(pending: Pending): void {
    pending.timer = undefined;
    const wasSent = pending.sentOn !== undefined;
    this.#inFlight.delete(pending);
    this.#buffer = this.#buffer.filter((p) => p !== pending);
    this.#settle(
      pending,
      new PublishTimeoutError(
        wasSent
          ? `no confirm for message ${pending.messageId} within ${this.#options.publishTimeoutMs} ms: the outcome is indeterminate (it may still be delivered); publish it again with the same message id to be sure`
          : `message ${pending.messageId} was not sent: no connection to RabbitMQ within ${this.#options.publishTimeoutMs} ms`,
      ),
    );
  }

  #settle(pending: Pending, error?: Error): void {
    if (pending.settled) return;
    pending.settled = true;
    if (pending.timer) clearTimeout(pending.timer);
    pending.span?.end(error);
    if (error) pending.reject(error);
    else pending.resolve(pending.messageId);
    if (this.#buffer.length === 0 && this.#inFlight.size === 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  /**
   * Waits for outstanding confirms (each bounded by its publish timeout), then closes the channel.
   * Idempotent: every caller awaits the same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      if (this.#buffer.length > 0 || this.#inFlight.size > 0) {
        await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      }
      await this.#channel.close();
      this.#state = 'stopped';
    })();
    return this.#stopping;
  }
}

/** A publish refused before it was sent: its span (if any) ends with the error. */
function failed(span: PublishSpan | undefined, error: Error): Promise<never> {
  span?.end(error);
  return Promise.reject(error);
}
