import { randomUUID } from 'node:crypto';
import type { WarrenConfig } from '../config/config-options.js';
import { invalidJobType } from '../config/name-rules.js';
import type { BrokerConnection } from '../connection/broker-connection.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';
import { PublishOptionsError } from '../errors/publish-options-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import { encodePayload, jobProperties } from '../messages/encode.js';
import { HEADERS } from '../messages/headers.js';
import { validatePayload, type Validated } from '../registry/validate-payload.js';
import { declareTopology } from '../topology/declare-topology.js';
import { delayEntryLevel, delayLevel, delayRoutingKey, jobQueue, jobsExchange } from '../topology/names.js';
import { delayTopology } from '../topology/topology-plan.js';
import type { PublishOptions, SchemaMap } from './publish-options.js';
import { publishOptionsProblem } from './publish-options-problem.js';
import { publishHeaders } from './publish-headers.js';
import type { Publisher } from './publisher.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import { hasCode } from '../errors/warren-error.js';

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
  publish(jobType: string, payload: unknown, options: PublishOptions = {}, parentId?: string): Promise<string> {
    const invalid = invalidJobType(jobType);
    // Not counted: the job_type label takes only job types, and this is any value a caller passed.
    if (invalid !== undefined) return Promise.reject(new PublishOptionsError(`cannot publish: ${invalid}`));
    let pending: Promise<string>;
    try {
      pending = this.#publish(jobType, payload, options, parentId);
    } catch (error) {
      // A caller's bad input (a runAt that is no Date) rejects like every other failure, never throws.
      pending = Promise.reject(error);
    }
    return this.#metrics ? this.#counted(jobType, pending, this.#metrics) : pending;
  }

  async #counted(jobType: string, pending: Promise<string>, metrics: WarrenMetrics): Promise<string> {
    try {
      const messageId = await pending;
      metrics.publishedCount(jobType, 'confirmed').inc();
      return messageId;
    } catch (error) {
      const outcome = hasCode(error, 'WARREN_ERR_UNROUTABLE')
        ? 'returned'
        : hasCode(error, 'WARREN_ERR_PUBLISH_TIMEOUT')
          ? 'timeout'
          : 'error';
      metrics.publishedCount(jobType, outcome).inc();
      throw error;
    }
  }

  /** Checks and encodes the job; an immediate one is handed to the publisher with no async frame of its own. */
  #publish(jobType: string, payload: unknown, options: PublishOptions, parentId: string | undefined): Promise<string> {
    const problem = publishOptionsProblem(options);
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
    if (validated instanceof Promise)
      return validated.then((result) => this.#send(jobType, body, options, result, parentId));
    return this.#send(jobType, body, options, validated, parentId);
  }

  /** Sends an encoded job its schema (if any) accepted. */
  #send(
    jobType: string,
    body: Buffer,
    options: PublishOptions,
    validated: Validated | undefined,
    parentId: string | undefined,
  ): Promise<string> {
    if (validated?.ok === false) return Promise.reject(new PayloadInvalidError(validated.message));
    const messageId = options.messageId ?? randomUUID();
    const headers = publishHeaders(options, parentId);
    const dueAt =
      options.runAt?.getTime() ?? (options.delayMs === undefined ? undefined : Date.now() + options.delayMs);
    if (dueAt === undefined) {
      // Resolves with the message id: no promise of its own on the way back.
      return this.#publisher.send(this.#exchange, jobType, body, jobProperties(jobType, messageId, headers));
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
    // Into the level of the delay's highest 1 bit: the levels above would only pass it on.
    await this.#publisher.send(
      delayLevel(this.#config.namespace, delayEntryLevel(delaySeconds)),
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
