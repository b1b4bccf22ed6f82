import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadQueue, defineJob, jobQueue, Registry, WarrenClient, Worker, type DeliveryOutcome } from 'warren';
import { memoryLogger, queueDepth, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import {
  privateBrokerVersions,
  startPrivateBroker,
  type PrivateBroker,
  type PrivateBrokerVersion,
} from '../helpers/private-broker.js';

/** The broker's own acknowledgement timeout (`consumer_timeout`), far below the job's `timeoutMs`. */
const BROKER_TIMEOUT_MS = 2_000;
/**
 * The broker checks a channel's oldest unacknowledged delivery on the channel's tick, every
 * `channel_tick_interval` (60 s by default, counted from the channel's opening): the close comes at the first tick
 * after the timeout. At 1 s it comes 2–3 s after the delivery, well inside a 5 s handler.
 */
const TICK_MS = 1_000;
const JOB_TIMEOUT_MS = 8_000;
/** How long the first attempt of the slow job takes: past the broker's timeout, inside the job's. */
const SLOW_MS = 5_000;
/** Room for a busy machine on top of the tick, when timing the broker's close. */
const SLACK_MS = 1_500;

/**
 * What each version honours besides the global `consumer_timeout`, measured on these nodes (3.10.8, 4.0.5): the
 * first test of each version checks it still holds, since the expectations on warren depend on it. 4.0.5 takes
 * the queue argument `x-consumer-timeout` (and the policy key `consumer-timeout`) at queue creation; neither
 * version takes the consumer argument, and 3.10 ignores both arguments silently.
 */
const HONOURS: Record<PrivateBrokerVersion, { queueArgument: boolean; consumerArgument: boolean }> = {
  '3.10': { queueArgument: false, consumerArgument: false },
  '4.0': { queueArgument: true, consumerArgument: false },
};

/** The close RabbitMQ sends when a delivery stays unacknowledged past the timeout (same text on both versions). */
const TIMEOUT_CLOSE = new RegExp(
  `PRECONDITION_FAILED - delivery acknowledgement on channel \\d+ timed out\\. Timeout value used: ${BROKER_TIMEOUT_MS} ms`,
);

interface Hold {
  /** The channel was closed by the broker while the delivery was held. */
  readonly closed: boolean;
  /** The close's reply code and text, when it was. */
  readonly error?: { readonly code: unknown; readonly message: string };
  /** Time from the delivery to the close. */
  readonly closedAfterMs?: number;
  readonly delivered: boolean;
}

interface HoldOptions {
  readonly queueArguments?: Record<string, unknown>;
  readonly consumeArguments?: Record<string, unknown>;
  readonly holdMs: number;
}

/**
 * Raw amqplib: one message in a fresh quorum queue, consumed with manual acks and held unacknowledged for
 * `holdMs` (or until the broker closes the channel), then acknowledged.
 */
async function hold(
  url: string,
  queue: string,
  { queueArguments = {}, consumeArguments, holdMs }: HoldOptions,
): Promise<Hold> {
  const connection = await amqp.connect(url);
  try {
    const setup = await connection.createChannel();
    await setup.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', ...queueArguments } });
    setup.sendToQueue(queue, Buffer.from('{}'), { persistent: true });
    await setup.close();

    const channel = await connection.createChannel();
    let error: Hold['error'];
    let closedAt: number | undefined;
    channel.on('error', (err: Error & { code?: unknown }) => (error = { code: err.code, message: err.message }));
    channel.on('close', () => (closedAt = Date.now()));
    let deliveredAt: number | undefined;
    let first: amqp.ConsumeMessage | undefined;
    await channel.consume(
      queue,
      (message) => {
        if (message !== null && first === undefined) {
          first = message;
          deliveredAt = Date.now();
        }
      },
      consumeArguments === undefined ? {} : { arguments: consumeArguments },
    );
    await waitFor(`a delivery from ${queue}`, () => first !== undefined, 5_000, 10);
    const until = Date.now() + holdMs;
    while (Date.now() < until && closedAt === undefined) await sleep(20);
    if (closedAt === undefined && first !== undefined) {
      channel.ack(first);
      // Closing the channel flushes the ack; a close the broker sends meanwhile still shows up as `error`.
      await channel.close();
    }
    const closed = error !== undefined;
    return {
      closed,
      delivered: first !== undefined,
      ...(closed ? { error } : {}),
      ...(closed && closedAt !== undefined && deliveredAt !== undefined
        ? { closedAfterMs: closedAt - deliveredAt }
        : {}),
    };
  } finally {
    await connection.close().catch(() => {});
  }
}

/** A pino line, parsed. */
type LogLine = Record<string, unknown> & { level: number; msg?: string };

describe.each(privateBrokerVersions())('RabbitMQ %s with consumer_timeout = 2000', (version) => {
  let broker: PrivateBroker | undefined;
  let worker: Worker | undefined;
  let client: WarrenClient | undefined;

  beforeAll(async () => {
    broker = await startPrivateBroker({
      version,
      config: [`consumer_timeout = ${BROKER_TIMEOUT_MS}`],
      advancedConfig: `[{rabbit, [{channel_tick_interval, ${TICK_MS}}]}].`,
    });
  });

  afterAll(async () => {
    // Each step on its own: a failed one must not leave the node running. The node, and every queue on it, is
    // deleted with it.
    await client?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await broker?.stop();
  });

  it('the broker closes the channel of a delivery held past the timeout; which x-consumer-timeout it honours', async () => {
    const node = broker as PrivateBroker;
    const prefix = uniqueNamespace('timeout');
    const longer = { 'x-consumer-timeout': JOB_TIMEOUT_MS + 2_000 };
    const [plain, consumerArgument, queueArgument, unknownArgument] = await Promise.all([
      hold(node.url, `${prefix}.plain`, { holdMs: SLOW_MS }),
      hold(node.url, `${prefix}.consumer-argument`, { consumeArguments: longer, holdMs: SLOW_MS }),
      hold(node.url, `${prefix}.queue-argument`, { queueArguments: longer, holdMs: SLOW_MS }),
      // An argument the broker does not know, acknowledged at once: accepted, delivers, no close.
      hold(node.url, `${prefix}.unknown-argument`, { consumeArguments: { 'x-warren-unknown': 'yes' }, holdMs: 0 }),
    ]);

    // Without an argument: a channel-level close (the connection stays), 406 PRECONDITION_FAILED, at the first tick
    // after the timeout.
    expect(plain).toMatchObject({ closed: true, delivered: true, error: { code: 406 } });
    expect(plain.error?.message).toMatch(TIMEOUT_CLOSE);
    expect(plain.closedAfterMs).toBeGreaterThanOrEqual(BROKER_TIMEOUT_MS);
    expect(plain.closedAfterMs).toBeLessThanOrEqual(BROKER_TIMEOUT_MS + TICK_MS + SLACK_MS);

    expect({ consumerArgument: !consumerArgument.closed, queueArgument: !queueArgument.closed }).toEqual(
      HONOURS[version],
    );
    for (const ignored of [consumerArgument, queueArgument].filter((result) => result.closed))
      expect(ignored.error?.message).toMatch(TIMEOUT_CLOSE);
    expect(unknownArgument).toEqual({ closed: false, delivered: true });
  });

  it("a job running past the broker's consumer_timeout is neither silent nor lost", async () => {
    const node = broker as PrivateBroker;
    const perJobTimeout = HONOURS[version].queueArgument || HONOURS[version].consumerArgument;
    const config = testConfig({ amqpUrl: node.url });
    const queue = jobQueue(config.namespace, 'slow.job');

    /** Handler calls per job id, and the calls that ran to the end. */
    const calls = new Map<string, number>();
    const completed: Array<{ jobId: string; call: number }> = [];
    const job = defineJob(
      'slow.job',
      async (payload: { slowMs: number }, ctx) => {
        const call = (calls.get(ctx.jobId) ?? 0) + 1;
        calls.set(ctx.jobId, call);
        // Slow on its first call only (work that does not watch ctx.signal); a redelivery returns at once.
        if (call === 1) await sleep(payload.slowMs);
        completed.push({ jobId: ctx.jobId, call });
      },
      { timeoutMs: JOB_TIMEOUT_MS },
    );
    const outcomes: DeliveryOutcome[] = [];
    const { logger, lines } = memoryLogger('info');
    const logLines = (): LogLine[] => lines.map((line) => JSON.parse(line) as LogLine);
    worker = new Worker({
      config,
      registry: new Registry().add([job]),
      logger,
      onOutcome: (outcome) => void outcomes.push(outcome),
    });
    client = new WarrenClient({ config, logger });
    await worker.start();
    await client.start();
    const live = worker;
    // Whether the worker was ever without its consumer, sampled while the jobs run.
    let notReady = 0;
    const sampler = setInterval(() => {
      if (!live.ready) notReady += 1;
    }, 50);
    const handled = (jobId: string): boolean => completed.some((entry) => entry.jobId === jobId);

    try {
      await client.publish('slow.job', { slowMs: SLOW_MS }, { messageId: 'slow' });
      const timeoutLog = (line: LogLine): boolean =>
        line.level >= 50 &&
        /consumer_timeout/.test(line.msg ?? '') &&
        (line['queue'] === queue || (line.msg ?? '').includes(queue));

      // Soft assertions: a run tells every way the behaviour falls short, not only the first.
      if (perJobTimeout) {
        // warren asks for a timeout from the job's own timeoutMs: the 5 s run is no breach.
        await waitFor(
          'the first call of the slow job over',
          () => completed.some((entry) => entry.jobId === 'slow' && entry.call === 1),
          SLOW_MS + 10_000,
          50,
        );
        await client.publish('slow.job', { slowMs: 0 }, { messageId: 'quick' });
        await waitFor('a job published afterwards handled', () => handled('quick'), 10_000, 50);
        await waitFor('both settled', () => outcomes.length >= 2 && live.inFlight === 0, 5_000, 20);

        expect.soft(calls.get('slow'), 'the slow job ran once: its channel was never closed under it').toBe(1);
        expect.soft(completed).toEqual([
          { jobId: 'slow', call: 1 },
          { jobId: 'quick', call: 1 },
        ]);
        expect.soft(outcomes).toEqual(['success', 'success']);
        expect.soft(live.staleSettles, 'no acknowledgement lost with a closed channel').toBe(0);
        expect.soft(notReady, 'the worker never lost its consumer').toBe(0);
        expect.soft(logLines().filter((line) => line.level >= 40 && line['queue'] === queue)).toEqual([]);
      } else {
        // The broker cannot be told: it closes the channel and hands the job back. warren consumes again, and the
        // job is handled by its redelivery.
        await waitFor(
          'the slow job redelivered after the close',
          () => (calls.get('slow') ?? 0) >= 2,
          BROKER_TIMEOUT_MS + TICK_MS + 10_000,
          50,
        );
        await client.publish('slow.job', { slowMs: 0 }, { messageId: 'quick' });
        await waitFor('a job published after the close handled', () => handled('quick'), 10_000, 50);
        await waitFor(
          'the slow job handled by its redelivery',
          () => completed.some((entry) => entry.jobId === 'slow' && entry.call > 1),
          10_000,
          50,
        );
        // The first call runs to its end too (its acknowledgement has no channel left).
        await waitFor('the first call of the slow job over', () => live.inFlight === 0, SLOW_MS + 5_000, 50);

        expect(calls.get('quick')).toBe(1);
        expect(outcomes.filter((outcome) => outcome === 'success').length).toBeGreaterThanOrEqual(2);
        // And says so, loudly: an error that names the queue and the broker setting, not a bare channel warning.
        expect
          .soft(
            logLines().filter(timeoutLog),
            `an error naming ${queue} and consumer_timeout; logged at warn or above: ${JSON.stringify(
              logLines()
                .filter((line) => line.level >= 40)
                .map((line) => ({ level: line.level, queue: line['queue'], msg: line.msg })),
            )}`,
          )
          .not.toEqual([]);
      }
    } finally {
      clearInterval(sampler);
    }

    // Nothing left behind: stopped, the worker hands back anything unacknowledged, which would show here.
    await worker.stop();
    expect(await queueDepth(queue, node.url)).toBe(0);
    expect(await queueDepth(deadQueue(config.namespace, 'slow.job'), node.url)).toBe(0);
    expect(new Set(completed.map((entry) => entry.jobId))).toEqual(new Set(['slow', 'quick']));
  });
});
