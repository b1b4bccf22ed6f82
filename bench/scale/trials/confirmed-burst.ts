import type { ConfirmChannel, Options } from 'amqplib';

/** One message of a burst. */
export interface BurstMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: Options.Publish;
}

/**
 * Publishes `count` messages on a confirm channel as fast as the broker confirms them: at most `window` awaiting
 * their confirm, and no more writes while the channel's buffer is full (until `drain`). Rejects on the first nack.
 * For filling queues before a measurement, not a measurement itself.
 */
export function confirmedBurst(
  channel: ConfirmChannel,
  count: number,
  message: (n: number) => BurstMessage,
  window = 2_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    let failed = false;
    let room = true;
    const pump = (): void => {
      while (!failed && room && sent < count && sent - confirmed < window) {
        const { exchange, routingKey, content, properties } = message(sent);
        sent += 1;
        room = channel.publish(exchange, routingKey, content, properties, (err: unknown) => {
          if (err) {
            failed = true;
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          confirmed += 1;
          if (confirmed === count) resolve();
          else pump();
        });
      }
    };
    channel.on('drain', () => {
      room = true;
      pump();
    });
    if (count === 0) resolve();
    else pump();
  });
}
