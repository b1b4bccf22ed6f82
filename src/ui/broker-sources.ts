import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { WarrenClient } from '../client/client.js';
import type { WarrenConfig } from '../config/config-options.js';
import { settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { DeadLetterAdmin } from '../dlq/dead-letter-admin.js';
import { DeadLetterReplay } from '../dlq/dead-letter-replay.js';
import { queueStatus } from '../dlq/queue-status.js';
import { ConnectionError } from '../errors/connection-error.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { createRedis } from '../redis/create-redis.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { ManagementApi, managementEndpoint } from './management-api.js';
import type { UiSources } from './ui-sources.js';

/** How long a connection the UI opens may take: a page waits for it. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A connection (or client) started on first use and kept; one that fails to start is dropped, so that the next
 * request tries again (a broker down when the UI started is picked up once it is back).
 */
class OnDemand<T extends { close(): Promise<void> }> {
  readonly #create: () => T;
  readonly #start: (resource: T) => Promise<unknown>;
  #current: Promise<T> | undefined;
  #closed = false;

  constructor(create: () => T, start: (resource: T) => Promise<unknown>) {
    this.#create = create;
    this.#start = start;
  }

  get(): Promise<T> {
    if (this.#closed) return Promise.reject(new IllegalStateError('the web UI is closed'));
    this.#current ??= (async () => {
      const resource = this.#create();
      try {
        await this.#start(resource);
        return resource;
      } catch (error) {
        this.#current = undefined;
        await resource.close().catch(() => {});
        throw error;
      }
    })();
    return this.#current;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    const resource = await current?.catch(() => undefined);
    await resource?.close();
  }
}

/** What {@link brokerSources} is built from. */
export interface BrokerSourcesOptions {
  readonly config: WarrenConfig;
  readonly logger: Logger;
  readonly schedules: readonly ScheduleDefinition[];
  /** `'none'` turns the management API off; see `WarrenUiOptions#managementUrl`. */
  readonly managementUrl?: string | undefined;
}

/**
 * The UI's sources on the configured broker and Redis, through warren's own classes: a `DeadLetterAdmin` (reading,
 * purging), a `DeadLetterReplay` per replay, a `Scheduler` whose publish is a `WarrenClient`'s (as `warren schedules
 * trigger`), an admin connection for passive declares, and the management API. Connections open at first use.
 */
export function brokerSources(options: BrokerSourcesOptions): UiSources {
  const { config, logger } = options;
  const probes = new OnDemand(
    () =>
      new BrokerConnection({
        url: config.amqpUrl,
        urlSource: settingSource(config, 'amqpUrl'),
        purpose: 'admin',
        heartbeatSeconds: config.heartbeatSeconds,
        logger,
      }),
    (connection) => connection.start(CONNECT_TIMEOUT_MS),
  );
  const admin = new OnDemand(
    () => new DeadLetterAdmin({ config, logger, connectTimeoutMs: CONNECT_TIMEOUT_MS }),
    (tools) => tools.start(),
  );
  const client = new OnDemand(
    () => new WarrenClient({ config, logger, connectTimeoutMs: CONNECT_TIMEOUT_MS }),
    (publisher) => publisher.start(),
  );
  const redis = config.redisUrl === 'none' ? undefined : new LastFireStore(config.redisUrl, logger);
  const scheduler = new Scheduler({
    namespace: config.namespace,
    schedules: options.schedules,
    publish: async (jobType, payload, publishOptions) => (await client.get()).publish(jobType, payload, publishOptions),
    redis: redis?.client,
    fireLockTtlMs: config.fireLockTtlMs,
    logger,
  });
  const listing =
    options.managementUrl === 'none'
      ? undefined
      : new ManagementApi(managementEndpoint(config.amqpUrl, options.managementUrl));
  /** Replays running now, stopped (cleanly, as SIGINT stops `warren dlq replay`) when the UI closes. */
  const replays = new Set<AbortController>();
  let closing: Promise<void> | undefined;

  return {
    queues: {
      async status(queue) {
        const connection = await probes.get();
        const model = connection.manager.connection;
        if (!model) throw new ConnectionError('not connected to RabbitMQ (reconnecting)');
        return queueStatus(model, queue);
      },
    },
    listing,
    deadLetters: {
      count: async (jobType) => (await admin.get()).count(jobType),
      scan: async (jobType, limit, visit) => (await admin.get()).scan(jobType, limit, visit),
      lacksDeliveryLimit: async (jobType) => (await admin.get()).lacksDeliveryLimit(jobType),
    },
    actions: {
      async replay(request, onProgress) {
        if (closing) throw new IllegalStateError('the web UI is closing');
        const controller = new AbortController();
        const signal = request.signal ? AbortSignal.any([request.signal, controller.signal]) : controller.signal;
        replays.add(controller);
        try {
          return await new DeadLetterReplay({
            config,
            logger,
            connectTimeoutMs: CONNECT_TIMEOUT_MS,
            ...request,
            signal,
            onProgress,
          }).run();
        } finally {
          replays.delete(controller);
        }
      },
      purge: async (jobType) => (await admin.get()).purge(jobType),
    },
    schedules: {
      async describe() {
        await redis?.connect();
        return scheduler.describe();
      },
      trigger: (name) => scheduler.trigger(name),
    },
    close() {
      closing ??= (async () => {
        for (const replay of replays) replay.abort();
        for (const step of [() => scheduler.stop(), () => client.close(), () => admin.close(), () => probes.close()]) {
          await step().catch((err: unknown) => logger.warn({ err }, 'closing the web UI'));
        }
        redis?.close();
      })();
      return closing;
    },
  };
}

/**
 * The Redis client the schedules page reads last fires with: created without connecting, connected at the first
 * read (a failure leaves the page without last fires, and the client keeps trying in the background).
 */
class LastFireStore {
  readonly client: Redis;
  #connecting: Promise<void> | undefined;

  constructor(url: string, logger: Logger) {
    this.client = createRedis(url, logger, 'warren-ui');
  }

  connect(): Promise<void> {
    this.#connecting ??= this.client.connect().catch(() => {});
    return this.#connecting;
  }

  close(): void {
    this.client.disconnect();
  }
}
