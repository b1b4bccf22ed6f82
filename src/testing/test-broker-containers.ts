import { TestBrokerUnavailableError } from '../errors/test-broker-unavailable-error.js';

/** RabbitMQ image the containers path starts unless told otherwise. */
export const DEFAULT_RABBITMQ_IMAGE = 'rabbitmq:4.0-management';
/** Redis image the containers path starts unless told otherwise. */
export const DEFAULT_REDIS_IMAGE = 'redis:7-alpine';

/** Containers started for a test run: their URLs and how to stop them. */
export interface TestContainers {
  readonly amqpUrl: string;
  /** `none` when no Redis container was started. */
  readonly redisUrl: string;
  /** Stops every container started, each step on its own; rejects with what failed after trying them all. */
  stop(): Promise<void>;
}

/** What to start. */
export interface TestContainersOptions {
  readonly rabbitmqImage: string;
  readonly redisImage: string;
  readonly redis: boolean;
}

/**
 * Starts RabbitMQ (and Redis) with testcontainers. testcontainers and @testcontainers/rabbitmq are optional peer
 * dependencies, loaded only here: when they are missing, one line says what to install.
 */
export async function startTestContainers(options: TestContainersOptions): Promise<TestContainers> {
  const [{ GenericContainer }, { RabbitMQContainer }] = await loadTestcontainers();
  const started = await Promise.allSettled([
    new RabbitMQContainer(options.rabbitmqImage).start(),
    options.redis ? new GenericContainer(options.redisImage).withExposedPorts(6379).start() : undefined,
  ]);
  const [rabbitmq, redis] = started;
  const stops = started.flatMap((result) =>
    result.status === 'fulfilled' && result.value !== undefined ? [result.value] : [],
  );
  const stop = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const container of stops) {
      try {
        await container.stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `stopping the test containers failed: ${firstLine(errors[0])}`);
  };
  if (rabbitmq.status === 'rejected' || redis.status === 'rejected') {
    await stop().catch(() => {});
    const cause: unknown =
      rabbitmq.status === 'rejected' ? rabbitmq.reason : redis.status === 'rejected' ? redis.reason : undefined;
    throw new TestBrokerUnavailableError(
      `RabbitMQ did not answer and a Docker engine did, but the test containers (${options.rabbitmqImage}` +
        `${options.redis ? `, ${options.redisImage}` : ''}) did not start: ${firstLine(cause)}`,
      { cause },
    );
  }
  const redisContainer = redis.value;
  return {
    amqpUrl: rabbitmq.value.getAmqpUrl(),
    redisUrl:
      redisContainer === undefined
        ? 'none'
        : `redis://${redisContainer.getHost()}:${redisContainer.getMappedPort(6379)}`,
    stop,
  };
}

/** testcontainers and its RabbitMQ module, or one line saying what to install. */
async function loadTestcontainers() {
  try {
    return await Promise.all([import('testcontainers'), import('@testcontainers/rabbitmq')]);
  } catch (error) {
    throw new TestBrokerUnavailableError(testcontainersMissing(error), { cause: error });
  }
}

/**
 * The one line for testcontainers failing to load: not installed (the usual case: it is an optional peer
 * dependency), or installed and broken.
 */
export function testcontainersMissing(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const why =
    code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
      ? 'is not installed'
      : `could not be loaded (${firstLine(error)})`;
  return (
    `RabbitMQ did not answer and a Docker engine did, but testcontainers ${why}: install testcontainers@11 and ` +
    '@testcontainers/rabbitmq@11 as dev dependencies (npm install --save-dev testcontainers@11 @testcontainers/rabbitmq@11)'
  );
}

/** The first line of an error's message. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(/\r?\n/)[0] ?? message;
}
