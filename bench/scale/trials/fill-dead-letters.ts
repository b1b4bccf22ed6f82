import amqp from 'amqplib';
import { planTopology } from '../../../src/index.js';
import { failureHeaders } from '../../../src/messages/failure-headers.js';
import { tableBytes } from '../../../src/messages/header-bytes.js';
import { declareTopology } from '../../../src/topology/declare-topology.js';
import { deadExchange, jobQueue } from '../../../src/topology/names.js';
import { DEFAULT_CONFIG } from '../../../src/config/config-options.js';
import { makePayload } from '../../lib/payload.js';
import type { FillResult } from '../scale-types.js';
import { confirmedBurst } from './confirmed-burst.js';

/** What a fill is given. */
export interface FillOptions {
  readonly amqpUrl: string;
  readonly namespace: string;
  readonly jobType: string;
  readonly count: number;
}

/**
 * Declares the job type's topology as a worker does (without consuming) and puts `count` dead letters straight into
 * its dead-letter queue through the dead-letter exchange: each with warren's own failure headers (`failureHeaders`,
 * a job that failed its third attempt with a TypeError and its stack), the bench's ~200-byte JSON payload, a
 * message id `dl-<n>`. Confirmed. Far faster than making a worker dead-letter them, and the same messages.
 */
export async function fillDeadLetters(options: FillOptions): Promise<FillResult> {
  const { namespace, jobType, count } = options;
  const connection = await amqp.connect(options.amqpUrl);
  try {
    const setup = await connection.createChannel();
    const settings = { namespace, queueType: DEFAULT_CONFIG.queueType, deliveryLimit: DEFAULT_CONFIG.deliveryLimit };
    await declareTopology(setup, planTopology(settings, [{ jobType, tiersMs: [...DEFAULT_CONFIG.retryTiersMs] }]));
    await setup.close();
    const error = new TypeError("Cannot read properties of undefined (reading 'email')");
    const headers = failureHeaders({
      outcome: 'exhausted',
      error,
      attempt: 3,
      queue: jobQueue(namespace, jobType),
      routingKey: jobType,
      previous: { 'x-app-tenant': 'acme' },
      now: new Date(),
    });
    const channel = await connection.createConfirmChannel();
    const started = performance.now();
    const timestamp = Math.floor(Date.now() / 1000);
    await confirmedBurst(channel, count, (n) => ({
      exchange: deadExchange(namespace),
      routingKey: jobType,
      content: Buffer.from(JSON.stringify(makePayload(n)), 'utf8'),
      properties: {
        messageId: `dl-${n}`,
        type: jobType,
        contentType: 'application/json',
        timestamp,
        persistent: true,
        mandatory: true,
        headers,
      },
    }));
    const seconds = (performance.now() - started) / 1000;
    await channel.close();
    return { ok: true, mode: 'fill-dead-letters', count, seconds, headerBytes: tableBytes(headers, true) };
  } finally {
    await connection.close();
  }
}
