import { randomBytes } from 'node:crypto';
import { DEFAULT_CONFIG, type WarrenConfig } from '../config/config-options.js';
import { MAX_NAMESPACE_LENGTH, NAME_PATTERN, invalidJobType } from '../config/name-rules.js';
import { ConfigError } from '../errors/config-error.js';
import { TestBrokerUnavailableError } from '../errors/test-broker-unavailable-error.js';
import { planTestBroker, type TestBrokerProbes, type UrlToProbe } from './choose-test-broker.js';
import { deleteRedisKeys, deleteTopology, namespaceExchanges, namespaceQueues } from './clean-test-namespace.js';
import {
  DEFAULT_RABBITMQ_IMAGE,
  DEFAULT_REDIS_IMAGE,
  startTestContainers,
  type TestContainers,
  type TestContainersOptions,
} from './test-broker-containers.js';
import { REAL_PROBES } from './test-broker-probes.js';

/** Options of {@link startTestBroker}; every one is optional. */
export interface TestBrokerOptions {
  /** Start of the fresh namespace, `<prefix>-<8 hex digits>`. @defaultValue `'test'` */
  readonly prefix?: string;
  /** `false`: the tests need no Redis. It is neither probed nor started, and `redisUrl` is `none`. @defaultValue `true` */
  readonly redis?: boolean;
  /**
   * Job types the tests run in the namespace: `stop()` deletes their job and dead-letter queues. AMQP cannot list
   * queues, so a job type not named here leaves its queues behind (on the environment path).
   * @defaultValue `[]`
   */
  readonly jobTypes?: readonly string[];
  /**
   * Retry tiers the tests' workers use besides warren's default ones (`retryTiersMs` of their configuration, or a
   * job's own `retry` tiers): `stop()` deletes their tier queues. The default tiers' are always deleted.
   * @defaultValue `[]`
   */
  readonly retryTiersMs?: readonly number[];
  /** RabbitMQ image of the containers path. @defaultValue `'rabbitmq:4.0-management'` */
  readonly rabbitmqImage?: string;
  /** Redis image of the containers path. @defaultValue `'redis:7-alpine'` */
  readonly redisImage?: string;
  /** Where `WARREN_AMQP_URL` and `WARREN_REDIS_URL` are read from. @defaultValue `process.env` */
  readonly env?: NodeJS.ProcessEnv;
}

/** The settings a {@link TestBroker} gives the tests: spread them into `loadConfig({ overrides })` or a client's `config`. */
export type TestBrokerConfig = Readonly<Pick<WarrenConfig, 'amqpUrl' | 'redisUrl' | 'namespace'>>;

/** A broker for one test file's integration tests, from {@link startTestBroker}. */
export interface TestBroker {
  /** The RabbitMQ to use. */
  readonly amqpUrl: string;
  /** The Redis to use; `none` when `redis: false` was given. */
  readonly redisUrl: string;
  /** A namespace of this broker's own, `<prefix>-<8 hex digits>`: no other call returns it. */
  readonly namespace: string;
  /**
   * `environment`: the RabbitMQ (and Redis) at `WARREN_AMQP_URL` / `WARREN_REDIS_URL`, or warren's defaults,
   * answered. `containers`: they did not, and RabbitMQ (and Redis) were started with testcontainers.
   */
  readonly source: 'environment' | 'containers';
  /**
   * `{ amqpUrl, redisUrl, namespace }`: `new WarrenClient({ config })`, or
   * `new Worker({ config: loadConfig({ overrides: config }), registry, logger })`.
   */
  readonly config: TestBrokerConfig;
  /**
   * Cleans up; idempotent, every call returns the same promise. On the environment path it deletes the namespace's
   * exchanges and queues (the base exchanges, the delay cascade, the retry tiers, and the queues of `jobTypes`) and
   * its Redis keys (`<namespace>:*`); on the containers path it stops the containers. Each step is tried on its own;
   * the promise rejects with an `AggregateError` of what failed, after trying them all. Stop the workers and clients
   * first.
   */
  stop(): Promise<void>;
}

/** What {@link startTestBrokerWith} does I/O with: the probes, and how containers are started. */
export interface TestBrokerIo {
  readonly probes: TestBrokerProbes;
  readonly startContainers: (options: TestContainersOptions) => Promise<TestContainers>;
}

/**
 * A real broker for integration tests, in one line. Uses the RabbitMQ at `WARREN_AMQP_URL` (else warren's default
 * `amqp://guest:guest@127.0.0.1:5672`) and the Redis at `WARREN_REDIS_URL` (else `redis://127.0.0.1:6379`) when
 * they answer within a few seconds. When RabbitMQ does not and a Docker engine does (`docker info`), starts
 * RabbitMQ and Redis containers with testcontainers (optional peer dependencies: `testcontainers@11` and
 * `@testcontainers/rabbitmq@11`, as dev dependencies). Returns them with a fresh namespace.
 *
 * @example
 * ```ts
 * const broker = await startTestBroker({ jobTypes: ['email.send'] });
 * const worker = new Worker({ config: loadConfig({ overrides: broker.config }), registry, logger });
 * // … the tests …
 * await worker.stop();
 * await broker.stop();
 * ```
 * @throws TestBrokerUnavailableError (`WARREN_ERR_TEST_BROKER_UNAVAILABLE`), one line: which URL did not answer and
 *   why, and why no container could be started; or that RabbitMQ answered and Redis did not (no container is
 *   started for Redis alone: start Redis, or pass `redis: false`)
 * @throws ConfigError for a `prefix` or a job type that is no valid name
 */
export function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  return startTestBrokerWith(options, { probes: REAL_PROBES, startContainers: startTestContainers });
}

/** {@link startTestBroker} with its I/O given: warren's own tests run every path with fakes. Not exported by `warren/testing`. */
export async function startTestBrokerWith(options: TestBrokerOptions, io: TestBrokerIo): Promise<TestBroker> {
  const namespace = freshNamespace(options.prefix ?? 'test');
  const jobTypes = [...(options.jobTypes ?? [])];
  for (const jobType of jobTypes) {
    const problem = invalidJobType(jobType);
    if (problem !== undefined) throw new ConfigError(`startTestBroker: jobTypes: ${problem}`);
  }
  const env = options.env ?? process.env;
  const wantsRedis = options.redis !== false;
  const choice = await planTestBroker(
    fromEnv(env, 'WARREN_AMQP_URL', DEFAULT_CONFIG.amqpUrl),
    wantsRedis ? fromEnv(env, 'WARREN_REDIS_URL', DEFAULT_CONFIG.redisUrl) : undefined,
    io.probes,
  );
  if (choice.kind === 'unavailable') throw new TestBrokerUnavailableError(choice.message);

  if (choice.kind === 'environment') {
    const { amqpUrl, redisUrl } = choice;
    return testBroker('environment', { amqpUrl, redisUrl, namespace }, async () => {
      const errors = await deleteTopology(
        amqpUrl,
        namespaceQueues(namespace, jobTypes, options.retryTiersMs),
        namespaceExchanges(namespace),
      );
      if (redisUrl !== 'none') {
        try {
          await deleteRedisKeys(redisUrl, namespace);
        } catch (error) {
          errors.push(error);
        }
      }
      return errors;
    });
  }

  const containers = await io.startContainers({
    rabbitmqImage: options.rabbitmqImage ?? DEFAULT_RABBITMQ_IMAGE,
    redisImage: options.redisImage ?? DEFAULT_REDIS_IMAGE,
    redis: choice.redis,
  });
  // The containers go with everything in them: nothing to delete first.
  return testBroker(
    'containers',
    { amqpUrl: containers.amqpUrl, redisUrl: containers.redisUrl, namespace },
    async () => {
      try {
        await containers.stop();
        return [];
      } catch (error) {
        return [error];
      }
    },
  );
}

/** The broker, with a memoised `stop()` that runs `cleanup` once and rejects with what it reports failed. */
function testBroker(
  source: TestBroker['source'],
  config: TestBrokerConfig,
  cleanup: () => Promise<unknown[]>,
): TestBroker {
  let stopping: Promise<void> | undefined;
  return Object.freeze({
    ...config,
    source,
    config: Object.freeze({ ...config }),
    stop(): Promise<void> {
      stopping ??= cleanup().then((errors) => {
        if (errors.length === 0) return;
        const first = errors[0] instanceof Error ? errors[0].message : String(errors[0]);
        throw new AggregateError(
          errors,
          `startTestBroker: ${errors.length} cleanup step(s) of namespace ${config.namespace} failed; the first: ${first}`,
        );
      });
      return stopping;
    },
  });
}

/** `<prefix>-<8 hex digits>`, checked against the namespace rules. */
function freshNamespace(prefix: string): string {
  const namespace = `${prefix}-${randomBytes(4).toString('hex')}`;
  if (!NAME_PATTERN.test(namespace) || namespace.length > MAX_NAMESPACE_LENGTH) {
    throw new ConfigError(
      `startTestBroker: prefix must be letters, digits, "-" and "_", in dot-separated words, at most ` +
        `${MAX_NAMESPACE_LENGTH - 9} characters; got ${JSON.stringify(prefix)}`,
    );
  }
  return namespace;
}

/** The URL in `variable`, or the default when it is unset or empty (as `loadConfig` reads it), and which it was. */
function fromEnv(env: NodeJS.ProcessEnv, variable: string, fallback: string): UrlToProbe {
  const given = env[variable];
  return given === undefined || given === ''
    ? { url: fallback, source: `default, ${variable} unset` }
    : { url: given, source: variable };
}
