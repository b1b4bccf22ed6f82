import { randomUUID } from 'node:crypto';
import { types } from 'node:util';
import type { WarrenConfig } from '../config/config-options.js';
import { invalidJobType } from '../config/name-rules.js';
import type { BrokerConnection } from '../connection/broker-connection.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';
import { PublishOptionsError } from '../errors/publish-options-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import { encodePayload, jobProperties } from '../messages/encode.js';
import { HEADERS, HEADER_PREFIX } from '../messages/headers.js';
import { validatePayload, type Validated } from '../registry/validate-payload.js';
import { declareTopology } from '../topology/declare-topology.js';
import { DELAY_LEVELS, MAX_DELAY_MS, delayLevel, delayRoutingKey, jobQueue, jobsExchange } from '../topology/names.js';
import { delayTopology } from '../topology/topology-plan.js';
import type { PublishOptions, SchemaMap } from './publish-options.js';
import type { Publisher } from './publisher.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import { hasCode } from '../errors/warren-error.js';

/** Longest AMQP short string, in bytes: the message id is one. */
const MAX_SHORTSTR_BYTES = 255;

/** A value as an error message shows what was given: short, and never a whole long string. */
function shown(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 80 ? `a string of ${Buffer.byteLength(value)} bytes` : JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object' || value === null) return String(value);
  if (types.isDate(value)) return Number.isNaN(value.getTime()) ? 'an invalid Date' : `the Date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  const kind = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `an instance of ${kind}` : 'an object';
}

/** An object literal, or `Object.create(null)`: what AMQP headers are made of (from any realm). */
function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/**
 * What is wrong with a publish's options, in words that follow `cannot publish "<job type>": `; undefined if nothing.
 * Refuses what the CLI refuses (`--delay` with `--at`, a time that is not one) and what the broker would choke on (a
 * message id longer than a short string). A few synchronous checks: an immediate publish is a measured hot path.
 */
function optionsProblem(options: PublishOptions): string | undefined {
  if (typeof options !== 'object' || options === null)
    return `publish options must be an object; got ${shown(options)}`;
  const { messageId, delayMs, runAt, headers, schedule } = options;
  if (
    messageId !== undefined &&
    // A UTF-16 unit takes at most 3 bytes in UTF-8: short ids need no counting.
    (typeof messageId !== 'string' ||
      messageId === '' ||
      (messageId.length * 3 > MAX_SHORTSTR_BYTES && Buffer.byteLength(messageId) > MAX_SHORTSTR_BYTES))
  ) {
    return `messageId must be a non-empty string of at most ${MAX_SHORTSTR_BYTES} bytes (an AMQP short string); got ${shown(messageId)}`;
  }
  if (delayMs !== undefined && runAt !== undefined)
    return `give delayMs or runAt, not both; got delayMs ${shown(delayMs)} and runAt ${shown(runAt)}`;
  let delay: number | undefined;
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0)
      return `delayMs must be a finite number of milliseconds, 0 or more; got ${shown(delayMs)}`;
    delay = delayMs;
  }
  if (runAt !== undefined) {
    // types.isDate, not instanceof: a Date from another realm (a vm context, a worker's structured clone) is one.
    if (!types.isDate(runAt) || Number.isNaN(runAt.getTime())) return `runAt must be a valid Date; got ${shown(runAt)}`;
    delay = runAt.getTime() - Date.now();
  }
  if (delay !== undefined && delay > MAX_DELAY_MS) {
    const asked = delayMs === undefined ? 'runAt' : 'delayMs';
    return `${asked} asks for a delay of ${Math.ceil(delay / 1000)} s; the longest delay is ${MAX_DELAY_MS / 1000} s (about 8.5 years)`;
  }
  if (headers !== undefined) {
    if (!isPlainObject(headers))
      return `headers must be a plain object of header names and values; got ${shown(headers)}`;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase().startsWith(HEADER_PREFIX))
        return `header ${JSON.stringify(name)} is in warren's own ${HEADER_PREFIX} space (warren sets those itself); use another name`;
    }
  }
  if (schedule !== undefined && (typeof schedule !== 'string' || schedule === ''))
    return `schedule must be the name of a schedule; got ${shown(schedule)}`;
  return undefined;
}

/** Whether every queue exists (passively; the first missing one ends the check, and closes its channel). */
async function allQueuesExist(connection: BrokerConnection, queues: readonly string[]): Promise<boolean> {
  return connection.withChannel(async (channel) => {
    for (const queue of queues) {
      try {
        await channel.checkQueue(queue);
      } catch {
        return false;
      }
    }
    return true;
  });
}

/**
 * Publishing a job, on a started {@link Publisher}: schema check, JSON encoding, the wire contract's properties,
 * and for delayed jobs the delay cascade. Shared by `WarrenClient` and the worker's scheduler.
 */
export class JobPublisher {
  readonly #config: WarrenConfig;
  readonly #connection: BrokerConnection;
  readonly #publisher: Publisher;
  readonly #schemas: SchemaMap;
  readonly #exchange: string;
  /** The delay cascade, declared on the first delayed publish. */
  #delayTopology: Promise<void> | undefined;
  /** Job types whose queue is known to exist, for delayed publishes (which the broker cannot return). */
  readonly #knownQueues = new Set<string>();

  readonly #metrics: WarrenMetrics | undefined;

  constructor(
    config: WarrenConfig,
    connection: BrokerConnection,
    publisher: Publisher,
    schemas: SchemaMap,
    metrics?: WarrenMetrics,
  ) {
    this.#metrics = metrics;
    this.#config = config;
    this.#connection = connection;
    this.#publisher = publisher;
    this.#schemas = schemas;
    this.#exchange = jobsExchange(config.namespace);
  }

  /**
   * See `WarrenClient#publish`. Its job type and options are checked before anything is sent: a bad one rejects with
   * a PublishOptionsError (never throws, even for plain JavaScript's wrong types).
   */
  publish(jobType: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
    const invalid = invalidJobType(jobType);
    // Not counted: the job_type label takes only job types, and this is any value a caller passed.
    if (invalid !== undefined) return Promise.reject(new PublishOptionsError(`cannot publish: ${invalid}`));
    let pending: Promise<string>;
    try {
      pending = this.#publish(jobType, payload, options);
    } catch (error) {
      // A caller's bad input (a runAt that is no Date) rejects like every other failure, never throws.
      pending = Promise.reject(error);
    }
    return this.#metrics ? this.#counted(jobType, pending, this.#metrics) : pending;
  }

  async #counted(jobType: string, pending: Promise<string>, metrics: WarrenMetrics): Promise<string> {
    try {
      const messageId = await pending;
      metrics.published.labels(jobType, 'confirmed').inc();
      return messageId;
    } catch (error) {
      const outcome = hasCode(error, 'WARREN_ERR_UNROUTABLE')
        ? 'returned'
        : hasCode(error, 'WARREN_ERR_PUBLISH_TIMEOUT')
          ? 'timeout'
          : 'error';
      metrics.published.labels(jobType, outcome).inc();
      throw error;
    }
  }

  /** Checks and encodes the job; an immediate one is handed to the publisher with no async frame of its own. */
  #publish(jobType: string, payload: unknown, options: PublishOptions): Promise<string> {
    const problem = optionsProblem(options);
    if (problem !== undefined)
      return Promise.reject(new PublishOptionsError(`cannot publish "${jobType}": ${problem}`));
    // Encoded before the schema answers: what is sent is what was validated, even when an async schema answers
    // after the caller changed the object.
    const body = encodePayload(payload);
    if (typeof body === 'string')
      return Promise.reject(new PayloadInvalidError(`cannot publish "${jobType}": ${body}`));
    // Own entries only: a job type named "constructor" must not find Object.prototype's.
    const schema = Object.hasOwn(this.#schemas, jobType) ? this.#schemas[jobType] : undefined;
    // Validate, but send what the caller gave: consumers parse (and transform) it themselves.
    const validated = schema ? validatePayload(schema, payload, jobType) : undefined;
    if (validated instanceof Promise) return validated.then((result) => this.#send(jobType, body, options, result));
    return this.#send(jobType, body, options, validated);
  }

  /** Sends an encoded job its schema (if any) accepted. */
  #send(jobType: string, body: Buffer, options: PublishOptions, validated: Validated | undefined): Promise<string> {
    if (validated?.ok === false) return Promise.reject(new PayloadInvalidError(validated.message));
    const messageId = options.messageId ?? randomUUID();
    const headers =
      options.schedule === undefined ? options.headers : { ...options.headers, [HEADERS.schedule]: options.schedule };
    const dueAt =
      options.runAt?.getTime() ?? (options.delayMs === undefined ? undefined : Date.now() + options.delayMs);
    if (dueAt === undefined) {
      return this.#publisher
        .send(this.#exchange, jobType, body, jobProperties(jobType, messageId, headers))
        .then(() => messageId);
    }
    return this.#publishDelayed(jobType, messageId, body, headers, dueAt);
  }

  async #publishDelayed(
    jobType: string,
    messageId: string,
    body: Buffer,
    headers: Record<string, unknown> | undefined,
    dueAt: number,
  ): Promise<string> {
    await this.#prepareDelayed(jobType);
    // Whole seconds, rounded up: never early. Counted after the (first-time) declaration, so it is not late by it.
    const delaySeconds = Math.max(0, Math.ceil((dueAt - Date.now()) / 1000));
    await this.#publisher.send(
      delayLevel(this.#config.namespace, DELAY_LEVELS - 1),
      delayRoutingKey(delaySeconds, jobType),
      body,
      jobProperties(jobType, messageId, { ...headers, [HEADERS.dueAt]: new Date(dueAt).toISOString() }),
    );
    return messageId;
  }

  /**
   * Declares the delay cascade once, and checks that the job's queue exists: a delayed message is routed to its
   * queue only when its delay is over, too late for the broker to return it.
   */
  async #prepareDelayed(jobType: string): Promise<void> {
    this.#delayTopology ??= this.#connection
      .withChannel(async (channel, model) => {
        const plan = delayTopology(this.#config);
        // Usually there already: 28 passive checks cost milliseconds, declaring 28 quorum queues about a second. The
        // exchanges and bindings are declared every time (each a quick idempotent round trip): queues that exist do
        // not prove that the process declaring them has bound them yet, and another publisher starting at the same
        // moment had its first delayed job returned as unroutable.
        const queuesExist = await allQueuesExist(
          this.#connection,
          plan.queues.map((q) => q.name),
        );
        await declareTopology(channel, queuesExist ? { ...plan, queues: [] } : plan, model);
      })
      .catch((error: unknown) => {
        this.#delayTopology = undefined;
        throw error;
      });
    await this.#delayTopology;
    if (this.#knownQueues.has(jobType)) return;
    const queue = jobQueue(this.#config.namespace, jobType);
    const exists = await this.#connection.withChannel((channel) =>
      channel.checkQueue(queue).then(
        () => true,
        () => false,
      ),
    );
    if (!exists)
      throw new UnroutableError(
        `cannot delay "${jobType}": its queue ${queue} does not exist (is a worker for this job type declared?)`,
      );
    this.#knownQueues.add(jobType);
  }
}
