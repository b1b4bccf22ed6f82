import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, PayloadInvalidError, RegistrationError, defineJob, jobsExchange, type JobDefinition } from 'warren';
import { rawConnection, waitFor } from '../helpers/broker.js';
import { takeDeadLetters } from '../helpers/dead-letters.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Publishes raw JSON bodies past any client-side schema, as a publisher in another language would. */
async function publishRaw(namespace: string, jobType: string, bodies: Record<string, unknown>): Promise<void> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createConfirmChannel();
    for (const [messageId, body] of Object.entries(bodies)) {
      channel.publish(jobsExchange(namespace), jobType, Buffer.from(JSON.stringify(body)), {
        messageId,
        contentType: 'application/json',
      });
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

const Shipment = v.object({
  orderId: v.string(),
  items: v.array(v.object({ sku: v.string(), qty: v.pipe(v.number(), v.integer(), v.minValue(1)) })),
  // The handler gets the output: a default filled in.
  priority: v.optional(v.picklist(['normal', 'express']), 'normal'),
});

describe('payload schemas are any Standard Schema: valibot on the real broker', () => {
  it('runs a valid job with the parsed output, synchronously; dead-letters an invalid one as invalid_payload', async () => {
    const handled: Array<{ payload: v.InferOutput<typeof Shipment>; sameTick: boolean }> = [];
    // Set while the schema runs and cleared by the next microtask: still set in the handler only if nothing was
    // awaited between validation and the handler (a sync schema must not cost a promise per delivery).
    let validating = false;
    const schema: typeof Shipment = {
      ...Shipment,
      '~standard': {
        ...Shipment['~standard'],
        validate: (value) => {
          validating = true;
          queueMicrotask(() => (validating = false));
          return Shipment['~standard'].validate(value);
        },
      },
    };
    const ship = defineJob('order.ship', (payload) => void handled.push({ payload, sameTick: validating }), {
      schema,
    });
    harness = await startHarness([ship], { schemas: { 'order.ship': Shipment } });
    const { client, config } = harness;

    await client.publish('order.ship', { orderId: 'o-1', items: [{ sku: 'a', qty: 2 }] }, { messageId: 'good' });
    await publishRaw(config.namespace, 'order.ship', { bad: { orderId: 'o-2', items: [{ sku: 'b', qty: '2' }] } });

    const [dead] = await takeDeadLetters(config.namespace, 'order.ship', 1);
    await waitFor('the valid job', () => handled.length === 1);
    expect(handled).toEqual([
      { payload: { orderId: 'o-1', items: [{ sku: 'a', qty: 2 }], priority: 'normal' }, sameTick: true },
    ]);
    expect(dead?.properties.messageId).toBe('bad');
    expect(dead?.properties.headers).toMatchObject({
      [HEADERS.reason]: 'invalid_payload',
      [HEADERS.errorName]: 'InvalidPayload',
      [HEADERS.errorMessage]:
        'payload does not match the schema of "order.ship": items.0.qty: Invalid type: Expected number but received "2"',
    });
  });

  it('WarrenClient with a valibot schema map rejects an invalid payload with PayloadInvalidError and sends nothing', async () => {
    // No schema on the worker, one at a time: a payload that got through would reach the handler, in order.
    const handled: unknown[] = [];
    harness = await startHarness(
      [defineJob('order.ship', (payload) => void handled.push(payload), { concurrency: 1 })],
      {
        schemas: { 'order.ship': Shipment },
      },
    );
    const { client } = harness;
    const invalid = client.publish('order.ship', { orderId: 'o-3', items: [{ sku: 'c', qty: 0 }] });
    await expect(invalid).rejects.toThrow(PayloadInvalidError);
    await expect(invalid).rejects.toThrow(
      'payload does not match the schema of "order.ship": items.0.qty: Invalid value: Expected >=1 but received 0',
    );
    // Validated, but sent as given: the default is the worker's schema's to fill in.
    await client.publish('order.ship', { orderId: 'o-4', items: [] });
    await waitFor('the valid job', () => handled.length === 1);
    expect(handled).toEqual([{ orderId: 'o-4', items: [] }]);
  });

  it('an async check runs before the handler, on publish and on delivery; a check that throws fails the attempt', async () => {
    const Signup = v.objectAsync({
      email: v.pipeAsync(
        v.string(),
        v.checkAsync(async (email) => {
          await new Promise((resolve) => setImmediate(resolve));
          if (email === 'down@example.com') throw new Error('directory unavailable');
          return email !== 'taken@example.com';
        }, 'email is taken'),
      ),
    });
    const handled: string[] = [];
    const signup = defineJob('user.signup', (payload) => void handled.push(payload.email), {
      schema: Signup,
      retry: { maxAttempts: 2, tiers: ['1s'] },
    });
    harness = await startHarness([signup], { schemas: { 'user.signup': Signup } });
    const { client, config } = harness;

    await expect(client.publish('user.signup', { email: 'taken@example.com' })).rejects.toThrow(
      new PayloadInvalidError('payload does not match the schema of "user.signup": email: email is taken'),
    );
    // What is sent is what was validated: changing the object while the async check runs changes nothing.
    const payload = { email: 'new@example.com' };
    const published = client.publish('user.signup', payload, { messageId: 'new' });
    payload.email = 'taken@example.com';
    await published;
    await publishRaw(config.namespace, 'user.signup', {
      taken: { email: 'taken@example.com' },
      down: { email: 'down@example.com' },
    });

    const dead = await takeDeadLetters(config.namespace, 'user.signup', 2);
    const byId = new Map(dead.map((m) => [m.properties.messageId as string, m.properties.headers]));
    expect(byId.get('taken')).toMatchObject({
      [HEADERS.reason]: 'invalid_payload',
      [HEADERS.attempt]: 1,
      [HEADERS.errorMessage]: 'payload does not match the schema of "user.signup": email: email is taken',
    });
    // Not a verdict on the payload: retried through its tier, then dead-lettered as exhausted with the schema's error.
    expect(byId.get('down')).toMatchObject({
      [HEADERS.reason]: 'exhausted',
      [HEADERS.attempt]: 2,
      [HEADERS.errorName]: 'Error',
      [HEADERS.errorMessage]: 'directory unavailable',
    });
    expect(harness.logLines.filter((line) => line.includes('the payload schema threw'))).toHaveLength(2);
    expect(handled).toEqual(['new@example.com']);
  });

  it('an async check that never answers fails its attempt at the job timeout, and frees the slot', async () => {
    const Hanging = v.objectAsync({
      id: v.pipeAsync(
        v.string(),
        v.checkAsync((id) => (id === 'hang' ? new Promise<boolean>(() => {}) : Promise.resolve(true)), 'never'),
      ),
    });
    const handled: string[] = [];
    const job = defineJob('check.hangs', (payload) => void handled.push(payload.id), {
      schema: Hanging,
      concurrency: 1,
      timeoutMs: 300,
      retry: { maxAttempts: 1 },
    });
    harness = await startHarness([job]);
    const { config } = harness;
    await publishRaw(config.namespace, 'check.hangs', { hang: { id: 'hang' }, after: { id: 'after' } });

    const [dead] = await takeDeadLetters(config.namespace, 'check.hangs', 1);
    expect(dead?.properties.messageId).toBe('hang');
    expect(dead?.properties.headers).toMatchObject({
      [HEADERS.reason]: 'exhausted',
      [HEADERS.errorName]: 'JobTimeoutError',
      [HEADERS.errorMessage]: 'job "check.hangs" hang: its payload schema did not answer within its timeout of 300 ms',
    });
    // Concurrency 1: the job behind it runs only because the hanging check gave its slot back.
    await waitFor('the job behind it', () => handled.length === 1);
    expect(handled).toEqual(['after']);
  });

  it('a handler whose schema is { parse() {} } is refused at registration, naming the job and what was given', async () => {
    const bad = defineJob('bad.schema', () => {}, { schema: { parse() {} } as never }) as JobDefinition;
    const starting = startHarness([bad]);
    await expect(starting).rejects.toThrow(RegistrationError);
    await expect(starting).rejects.toThrow(
      'job "bad.schema": schema must be a Standard Schema (zod 4, valibot, arktype, … — an object with a "~standard" property); got an object with keys parse',
    );
  });
});
