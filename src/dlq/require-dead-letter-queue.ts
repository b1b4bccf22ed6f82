import type { ChannelModel } from 'amqplib';
import { ConfigError } from '../errors/config-error.js';
import { invalidJobType } from '../config/name-rules.js';
import { deadQueue } from '../topology/names.js';
import { queueStatus } from './queue-status.js';

/**
 * Checks that `jobType` is a valid job type and that its dead-letter queue exists; resolves with the messages
 * ready in it.
 * @throws ConfigError naming the job type when it is not valid or has no dead-letter queue in this namespace.
 */
export async function requireDeadLetterQueue(model: ChannelModel, namespace: string, jobType: string): Promise<number> {
  const invalid = invalidJobType(jobType);
  if (invalid !== undefined) throw new ConfigError(invalid);
  const queue = deadQueue(namespace, jobType);
  const count = (await queueStatus(model, queue))?.messages;
  if (count === undefined) {
    throw new ConfigError(
      `job type "${jobType}" has no dead-letter queue: ${queue} does not exist. Check the job type and the namespace ` +
        `"${namespace}" (WARREN_NAMESPACE); the queue is declared by a worker for "${jobType}" or by \`warren topology --apply\``,
    );
  }
  return count;
}
