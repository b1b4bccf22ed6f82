import type { GetMessage } from 'amqplib';
import { deadQueue } from 'warren';
import { rawConnection, waitFor } from './broker.js';

/** Takes `count` messages from a job type's dead-letter queue (waiting for them), acking them. */
export async function takeDeadLetters(namespace: string, jobType: string, count: number): Promise<GetMessage[]> {
  const connection = await rawConnection();
  const messages: GetMessage[] = [];
  try {
    const channel = await connection.createChannel();
    await waitFor(
      `${count} dead letters of ${jobType}`,
      async () => {
        const message = await channel.get(deadQueue(namespace, jobType), { noAck: true });
        if (message) messages.push(message);
        return messages.length >= count;
      },
      20_000,
      20,
    );
    await channel.close();
  } finally {
    await connection.close();
  }
  return messages;
}
