import type { ConsumeMessage } from 'amqplib';

/** A delivery as amqplib hands it to a consumer, for unit tests of the consumer's pure and settling parts. */
export function delivery(
  body: unknown,
  options: {
    readonly routingKey?: string;
    readonly headers?: Record<string, unknown>;
    readonly messageId?: string;
    readonly redelivered?: boolean;
    readonly raw?: Buffer;
  } = {},
): ConsumeMessage {
  return {
    content: options.raw ?? Buffer.from(JSON.stringify(body)),
    fields: {
      deliveryTag: 1,
      redelivered: options.redelivered ?? false,
      exchange: 'ns.jobs',
      routingKey: options.routingKey ?? 'test.job',
      consumerTag: 'ctag',
    },
    properties: {
      contentType: 'application/json',
      contentEncoding: undefined,
      headers: options.headers ?? {},
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: options.messageId ?? 'job-1',
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    },
  };
}
