import amqp, { type ChannelModel } from 'amqplib';
import { redactUrl } from '../../src/config/broker-urls.js';
import { AMQP_URL } from './broker.js';
import { privateBrokerVersions, type PrivateBrokerVersion } from './private-broker.js';

/** A shared RabbitMQ node the tests use with a namespace of their own (never stopped or broken by a test). */
export interface SharedBroker {
  readonly version: PrivateBrokerVersion;
  readonly url: string;
}

/**
 * The shared 4.0 node of `.ci/rabbitmq4` beside the test broker: same host, port `$WARREN_RABBITMQ4_PORT` (5674, as
 * `.ci/run` starts it).
 */
function rabbitmq4Url(): string {
  const url = new URL(AMQP_URL);
  url.port = process.env['WARREN_RABBITMQ4_PORT'] ?? '5674';
  return url.toString().replace(/\/$/, '');
}

/**
 * The shared brokers a test runs over (`describe.each(sharedBrokers())`), one per version of
 * {@link privateBrokerVersions} (so a machine without the 4.0 tree runs 3.10 alone and says so on stderr, and
 * `WARREN_PRIVATE_BROKER_VERSIONS=3.10,4.0` requires both): 3.10 is the test broker (`WARREN_TEST_AMQP_URL`, by
 * default 5672), 4.0 the node on `$WARREN_RABBITMQ4_PORT` (default 5674).
 */
export function sharedBrokers(): readonly SharedBroker[] {
  return privateBrokerVersions().map((version) => ({ version, url: version === '3.10' ? AMQP_URL : rabbitmq4Url() }));
}

/**
 * Fails, saying which and how to start it, unless the broker answers at its URL and is the RabbitMQ version it
 * stands for: a case meant for 4.0 that ran on another version (or on none) would pass for the wrong reason.
 */
export async function requireSharedBroker({ version, url }: SharedBroker): Promise<void> {
  const where = redactUrl(url);
  const howToStart =
    version === '4.0'
      ? 'start it with `sudo bash .ci/rabbitmq4 start` (WARREN_RABBITMQ4_PORT moves it)'
      : 'start the machine’s rabbitmq-server, or point WARREN_TEST_AMQP_URL at a 3.10 broker';
  let connection: ChannelModel;
  try {
    connection = await amqp.connect(url, { timeout: 5_000 });
  } catch (error) {
    throw new Error(`RabbitMQ ${version} expected at ${where}: ${(error as Error).message}; ${howToStart}`, {
      cause: error,
    });
  }
  try {
    const found = String(connection.connection.serverProperties.version);
    if (!found.startsWith(`${version}.`))
      throw new Error(`RabbitMQ ${version} expected at ${where}; got RabbitMQ ${found}; ${howToStart}`);
  } finally {
    await connection.close();
  }
}
