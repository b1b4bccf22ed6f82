import type { ConsumeMessage } from 'amqplib';
import { JSON_CONTENT_TYPE } from '../messages/headers.js';

/** What a {@link jsonDelivery} may differ in from a plain first delivery of a JSON job. */
export interface JsonDeliveryOptions {
  readonly routingKey: string;
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly messageId?: string;
  readonly redelivered?: boolean;
  /** The body as sent, instead of the payload as JSON (a malformed one, say). */
  readonly raw?: Buffer;
}

/**
 * A delivery as amqplib hands it to a consumer: the payload as JSON, persistent, with the given routing key. Used
 * by `runJob` to take a payload through a worker's own path, and by warren's unit tests.
 */
export function jsonDelivery(payload: unknown, options: JsonDeliveryOptions): ConsumeMessage {
  return {
    content: options.raw ?? Buffer.from(JSON.stringify(payload) ?? 'null'),
    fields: {
      deliveryTag: 1,
      redelivered: options.redelivered ?? false,
      exchange: '',
      routingKey: options.routingKey,
      consumerTag: 'warren-testing',
    },
    properties: {
      contentType: JSON_CONTENT_TYPE,
      contentEncoding: undefined,
      headers: { ...options.headers },
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: options.messageId,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    },
  };
}
