import amqp, { type ConsumeMessage, type Options } from 'amqplib';
import { HEADERS } from '../../../src/messages/headers.js';
import { deadQueue, replayRoutingKey, requeueExchange } from '../../../src/topology/names.js';
import type { RawReplayResult } from '../scale-types.js';

/** What the raw replay is given. */
export interface RawReplayOptions {
  readonly amqpUrl: string;
  readonly namespace: string;
  readonly jobType: string;
  readonly count: number;
  /** Dead letters held at once: `warren dlq replay`'s (DEFAULT_MAX_UNCONFIRMED, 100). */
  readonly prefetch: number;
  /** Print `replayed n/count` on stderr every `step` acknowledgements, as `warren dlq replay` does. */
  readonly step: number;
}

/**
 * The floor for a replay, in plain amqplib: consume the dead-letter queue with a prefetch, republish each dead letter
 * (its body and properties, its headers without warren's `x-warren-*` ones and the broker's bookkeeping, plus the
 * replay-of header) mandatory on a confirm channel of a second connection to the requeue exchange with the same
 * routing key as warren's replay, and acknowledge the dead letter once its copy is confirmed. No lock, no checks,
 * no tracing, no summary.
 */
export async function rawReplay(options: RawReplayOptions): Promise<RawReplayResult> {
  const { namespace, jobType, count, prefetch, step } = options;
  const consuming = await amqp.connect(options.amqpUrl);
  const publishing = await amqp.connect(options.amqpUrl);
  try {
    const deadLetters = await consuming.createChannel();
    const copies = await publishing.createConfirmChannel();
    await deadLetters.prefetch(prefetch);
    const exchange = requeueExchange(namespace);
    const routingKey = replayRoutingKey(jobType);
    let acked = 0;
    let firstAt = 0;
    let lastAt = 0;
    let failure: Error | undefined;
    let consumerTag = '';
    const done = new Promise<void>((resolve, reject) => {
      const copyOf = (message: ConsumeMessage): Options.Publish => {
        const headers: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
          if (!name.startsWith('x-warren-') && name !== 'x-death' && name !== 'x-delivery-count') headers[name] = value;
        }
        headers[HEADERS.replayOf] = String(message.properties.messageId);
        const { messageId, type, timestamp, contentType } = message.properties;
        return { messageId, type, timestamp, contentType, persistent: true, mandatory: true, headers };
      };
      copies.on('return', () => {
        failure ??= new Error(`a copy was returned unroutable from ${exchange} "${routingKey}"`);
        reject(failure);
      });
      const subscribed = deadLetters.consume(deadQueue(namespace, jobType), (message) => {
        if (message === null) {
          reject(new Error('the broker cancelled the consumer'));
          return;
        }
        if (firstAt === 0) firstAt = performance.now();
        copies.publish(exchange, routingKey, message.content, copyOf(message), (err: unknown) => {
          if (err) {
            failure ??= err instanceof Error ? err : new Error(String(err));
            reject(failure);
            return;
          }
          deadLetters.ack(message);
          acked += 1;
          if (acked % step === 0 || acked === count) process.stderr.write(`replayed ${acked}/${count}\n`);
          if (acked === count) {
            lastAt = performance.now();
            resolve();
          }
        });
      });
      subscribed.then(
        (ok) => (consumerTag = ok.consumerTag),
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    });
    await done;
    // basic.cancel goes through the queue: the acknowledgements sent before it are applied when it returns (a quorum
    // queue drops those it has not applied when the channel closes, and their dead letters would come back).
    await deadLetters.cancel(consumerTag);
    await deadLetters.close();
    await copies.close();
    return { ok: true, mode: 'raw-replay', count, seconds: (lastAt - firstAt) / 1000 };
  } finally {
    await publishing.close().catch(() => {});
    await consuming.close().catch(() => {});
  }
}
