import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig, settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { ConfigError } from '../errors/config-error.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { createLogger } from '../logging/logger.js';
import { JobPublisher } from '../publisher/job-publisher.js';
import { Publisher } from '../publisher/publisher.js';
import { baseExchanges } from '../topology/topology-plan.js';
import type { PublishOptions, SchemaMap } from '../publisher/publish-options.js';
import { SCHEMA_EXPECTED, schemaProblem, type PayloadSchema, type SchemaInput } from '../registry/payload-schema.js';
import type { ClientOptions } from './client-options.js';
import { compose } from '../middleware/compose.js';
import type { PublishCall, PublishMiddleware } from '../publisher/publish-middleware.js';

/** The payload type of a job type: its schema's input type where one is known, else `unknown`. */
export type PayloadOf<S extends SchemaMap, T extends string> = T extends keyof S
  ? S[T] extends PayloadSchema
    ? SchemaInput<S[T]>
    : unknown
  : unknown;

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `schemas` option, checked: every entry a Standard Schema warren can call. @throws ConfigError */
function checkSchemas(schemas: unknown): SchemaMap {
  if (schemas === undefined) return {};
  if (typeof schemas !== 'object' || schemas === null || Array.isArray(schemas)) {
    throw new ConfigError(
      // A primitive, null or an array here: String() shows it.
      // eslint-disable-next-line @typescript-eslint/no-base-to-string
      `schemas must be an object of job type → schema; got ${Array.isArray(schemas) ? 'an array' : String(schemas)}`,
    );
  }
  for (const [jobType, schema] of Object.entries(schemas)) {
    const problem = schemaProblem(schema);
    if (problem !== undefined) {
      throw new ConfigError(`schemas[${JSON.stringify(jobType)}] must be ${SCHEMA_EXPECTED}; got ${problem}`);
    }
  }
  // A frozen copy: an entry added to the caller's object later would skip this check.
  return Object.freeze({ ...(schemas as SchemaMap) });
}

/**
 * Publishes jobs from application code, on its own confirm-channel connection. `publish` resolves once the
 * broker confirmed the message. `schemas` may be any Standard Schema (zod 4, valibot, arktype, …): `publish` is
 * typed by each schema's input and validates against it; a non-schema entry is a `ConfigError` here.
 *
 * @example
 * const client = new WarrenClient({ schemas: { 'email.send': EmailSchema } });
 * await client.start();
 * await client.publish('email.send', { to: 'a@example.com', subject: 'Hi', body: '...' });
 */
export class WarrenClient<S extends SchemaMap = SchemaMap> {
  readonly config: WarrenConfig;
  readonly #connection: BrokerConnection;
  readonly #publisher: Publisher;
  readonly #jobs: JobPublisher;
  readonly #connectTimeoutMs: number;
  readonly #middleware: PublishMiddleware[] = [];
  /** The publish with its middleware around it; rebuilt when one is added. */
  #chain: ((call: PublishCall) => Promise<string>) | undefined;
  #started = false;

  constructor(options: ClientOptions<S> = {}) {
    const schemas = checkSchemas(options.schemas);
    this.config = loadConfig({ overrides: options.config ?? {} });
    const logger = options.logger ?? createLogger(this.config.logLevel);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.#connection = new BrokerConnection({
      url: this.config.amqpUrl,
      urlSource: settingSource(this.config, 'amqpUrl'),
      purpose: 'publish',
      heartbeatSeconds: this.config.heartbeatSeconds,
      logger,
      metrics: options.metrics,
      onConnectRetry: options.onConnectRetry,
    });
    this.#publisher = new Publisher(this.#connection, {
      exchanges: baseExchanges(this.config.namespace),
      publishTimeoutMs: this.config.publishTimeoutMs,
      publishBufferSize: this.config.publishBufferSize,
      maxPayloadBytes: this.config.maxPayloadBytes,
      logger,
    });
    this.#jobs = new JobPublisher(this.config, this.#connection, this.#publisher, schemas, options.metrics);
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
   * Publishes one job and resolves with its message id once the broker confirmed it. With `delayMs` or `runAt`
   * it is delivered no earlier than that (1 s resolution), through the delay cascade.
   * @throws PublishOptionsError (job type or option not valid; nothing sent), PayloadInvalidError (schema or JSON),
   *   PayloadTooLargeError, UnroutableError (no queue for the job type), PublishRejectedError,
   *   PublishBufferFullError, PublishTimeoutError (indeterminate). Each as a rejection: it never throws.
   */
  publish<T extends string>(jobType: T, payload: PayloadOf<S, T>, options: PublishOptions = {}): Promise<string> {
    // Options that are no object, or headers that are none, are refused by the publish itself: no middleware runs.
    if (
      this.#chain === undefined ||
      !isRecord(options) ||
      !(options.headers === undefined || isRecord(options.headers))
    )
      return this.#jobs.publish(jobType, payload, options);
    const { headers, ...rest } = options;
    return this.#chain({ jobType, payload, headers: { ...headers }, options: rest });
  }

  /**
   * Adds a middleware around every publish of this client (see {@link PublishMiddleware}), after those added
   * before it: to add headers (a tenant id, a request id), to refuse a publish, to measure. It applies to the
   * publishes that start after it was added.
   * @throws TypeError when `middleware` is no function
   */
  use(middleware: PublishMiddleware): this {
    if (typeof middleware !== 'function')
      throw new TypeError(`client.use() takes a function (call, next) => …; got ${typeof middleware}`);
    this.#middleware.push(middleware);
    this.#chain = compose<PublishCall, string>([...this.#middleware], (call) =>
      this.#jobs.publish(call.jobType, call.payload, {
        ...call.options,
        ...(Object.keys(call.headers).length > 0 ? { headers: call.headers } : {}),
      }),
    );
    return this;
  }

  /** The broker node (`host:port`) the client's connection is on; `undefined` while it is down. */
  get node(): string | undefined {
    return this.#connection.node;
  }

  /** Waits for outstanding confirms, then closes. Idempotent. */
  async close(): Promise<void> {
    await this.#publisher.stop();
    await this.#connection.close();
  }
}
