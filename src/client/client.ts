import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';
import { createLogger } from '../logging/logger.js';
import { encodePayload, jobProperties } from '../messages/encode.js';
import { Publisher } from '../publisher/publisher.js';
import { jobsExchange } from '../topology/names.js';
import { validatePayload } from '../registry/validate-payload.js';
import { baseExchanges } from '../topology/topology-plan.js';
import type { ClientOptions, PublishOptions, SchemaMap } from './client-options.js';

/** The payload type of a job type: its schema's input type where one is known, else `unknown`. */
export type PayloadOf<S extends SchemaMap, T extends string> = T extends keyof S
  ? S[T] extends z.ZodType
    ? z.input<S[T]>
    : unknown
  : unknown;

/**
 * Publishes jobs from application code, on its own confirm-channel connection. `publish` resolves once the
 * broker confirmed the message.
 *
 * @example
 * const client = new WarrenClient({ schemas: { 'email.send': EmailSchema } });
 * await client.start();
 * await client.publish('email.send', { to: 'a@example.com', subject: 'Hi', body: '...' });
 */
export class WarrenClient<S extends SchemaMap = SchemaMap> {
  readonly config: WarrenConfig;
  readonly #schemas: SchemaMap;
  readonly #connection: BrokerConnection;
  readonly #publisher: Publisher;
  readonly #exchange: string;
  readonly #connectTimeoutMs: number;
  #started = false;

  constructor(options: ClientOptions<S> = {}) {
    this.config = loadConfig({ overrides: options.config ?? {} });
    this.#schemas = options.schemas ?? {};
    const logger = options.logger ?? createLogger(this.config.logLevel);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.#exchange = jobsExchange(this.config.namespace);
    this.#connection = new BrokerConnection({
      url: this.config.amqpUrl,
      purpose: 'publish',
      heartbeatSeconds: this.config.heartbeatSeconds,
      logger,
    });
    this.#publisher = new Publisher(this.#connection, {
      exchanges: baseExchanges(this.config.namespace),
      publishTimeoutMs: this.config.publishTimeoutMs,
      publishBufferSize: this.config.publishBufferSize,
      maxPayloadBytes: this.config.maxPayloadBytes,
      logger,
    });
  }

  /** Connects and opens the confirm channel. @throws ConnectionError */
  async start(): Promise<this> {
    if (this.#started) throw new IllegalStateError('the client is already started');
    this.#started = true;
    await this.#connection.start(this.#connectTimeoutMs);
    await this.#publisher.start();
    return this;
  }

  /**
   * Publishes one job and resolves with its message id once the broker confirmed it.
   * @throws PayloadInvalidError (schema or JSON), PayloadTooLargeError, UnroutableError (no queue for the job
   *   type), PublishRejectedError, PublishBufferFullError, PublishTimeoutError (indeterminate)
   */
  async publish<T extends string>(jobType: T, payload: PayloadOf<S, T>, options: PublishOptions = {}): Promise<string> {
    const messageId = options.messageId ?? randomUUID();
    const schema = this.#schemas[jobType];
    // Validate, but send what the caller gave: consumers parse (and transform) it themselves.
    if (schema) {
      const validated = validatePayload(schema, payload, jobType);
      if (!validated.ok) throw new PayloadInvalidError(validated.message);
    }
    const body = encodePayload(payload);
    if (typeof body === 'string') throw new PayloadInvalidError(`cannot publish "${jobType}": ${body}`);
    await this.#publisher.send(this.#exchange, jobType, body, jobProperties(jobType, messageId, options.headers as Record<string, unknown> | undefined));
    return messageId;
  }

  /** Waits for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    await this.#publisher.stop();
    await this.#connection.close();
  }
}
