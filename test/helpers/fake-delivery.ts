import type { ConsumeMessage } from 'amqplib';
import { jsonDelivery, type JsonDeliveryOptions } from '../../src/testing/json-delivery.js';

/** A delivery as amqplib hands it to a consumer (job type `test.job`, id `job-1` unless given), for unit tests. */
export function delivery(body: unknown, options: Partial<JsonDeliveryOptions> = {}): ConsumeMessage {
  return jsonDelivery(body, { routingKey: 'test.job', messageId: 'job-1', ...options });
}
