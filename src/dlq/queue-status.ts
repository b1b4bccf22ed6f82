import type { ChannelModel } from 'amqplib';

/** What a passive declare tells about a queue. */
export interface QueueStatus {
  /** Messages ready for delivery; those held unacknowledged by a client are not counted. */
  readonly messages: number;
  readonly consumers: number;
}

/**
 * A queue's status by a passive declare on a throwaway channel (a missing queue closes the channel it was checked
 * on); `undefined` when the queue does not exist.
 */
export async function queueStatus(model: ChannelModel, queue: string): Promise<QueueStatus | undefined> {
  const channel = await model.createChannel();
  channel.on('error', () => {
    // A 404 here is the answer, not a failure; it closes only this channel.
  });
  try {
    const { messageCount, consumerCount } = await channel.checkQueue(queue);
    return { messages: messageCount, consumers: consumerCount };
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return undefined;
    throw error;
  } finally {
    await channel.close().catch(() => {});
  }
}
