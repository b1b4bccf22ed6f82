import amqp, { type GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue, WarrenClient } from 'warren';
import { memoryLogger, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { logLines, runWarren, spawnWarren, type WarrenProcess } from '../helpers/cli.js';
import { privateBrokerVersions, startPrivateBroker, type PrivateBroker } from '../helpers/private-broker.js';

const JOB_TYPE = 'crash.job';
const DELIVERY_LIMIT = 3;
const NORMAL = 50;
/** A crash loop that the delivery limit failed to stop ends here instead of running on. */
const MAX_RUNS = DELIVERY_LIMIT + 6;
/**
 * The job's prefetch (its concurrency is 1): at 2 a job waits in the worker beside the poison one, and is deferred
 * while the poison runs alone; its ack must reach the broker before the poison kills the worker.
 */
const PREFETCHES = [1, 2] as const;

/** Queue depth and one basic.get on the private node. */
async function inspect(
  url: string,
  queue: string,
  take: boolean,
): Promise<{ depth: number; message: GetMessage | false }> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    const message = take ? await channel.get(queue, { noAck: true }) : false;
    await channel.close();
    return { depth: messageCount, message };
  } finally {
    await connection.close();
  }
}

describe.each(privateBrokerVersions())('RabbitMQ %s', (version) => {
  let broker: PrivateBroker | undefined;
  let client: WarrenClient | undefined;
  const runs: WarrenProcess[] = [];
  let supervising = false;

  beforeAll(async () => {
    broker = await startPrivateBroker({ version });
  });

  // Each test's runs and client: the supervisor loop stops at the next exit once `supervising` is false.
  afterEach(async () => {
    supervising = false;
    await client?.close().catch(() => {});
    client = undefined;
    for (const run of runs) {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      await run.exited;
    }
    runs.length = 0;
  });

  afterAll(async () => {
    await broker?.stop();
  });

  describe.each(PREFETCHES)(
    'a handler that kills its worker process (process.exit) on one message, under a supervisor that restarts it (prefetch %i)',
    (prefetch) => {
      it('the poison message reaches the dead-letter queue as delivery_limit; the others are handled; restarts are bounded', async () => {
        const node = broker as PrivateBroker;
        const namespace = uniqueNamespace('crash');
        const env = {
          WARREN_AMQP_URL: node.url,
          WARREN_NAMESPACE: namespace,
          WARREN_DELIVERY_LIMIT: String(DELIVERY_LIMIT),
          WARREN_LOG_LEVEL: 'info',
          WARREN_SHUTDOWN_GRACE_MS: '2s',
          CRASH_JOB_PREFETCH: String(prefetch),
        };

        // The supervisor: start the worker again whenever it exits, like systemd's Restart=always.
        const exits: Array<number | string> = [];
        supervising = true;
        const supervisor = (async () => {
          while (supervising && runs.length < MAX_RUNS) {
            const run = spawnWarren(['start', '--handlers', 'test/fixtures/crash-handlers.ts'], env);
            runs.push(run);
            exits.push(await run.exited);
          }
        })();
        const current = (): WarrenProcess => runs[runs.length - 1] as WarrenProcess;
        const output = (): string => runs.map((run) => run.stdout()).join('\n');
        const handled = (): string[] =>
          logLines(output())
            .filter((line) => line['event'] === 'handled')
            .map((line) => String(line['jobId']));
        const handledIds = (): Set<string> => new Set(handled());

        // The first run declares the topology; publish only then (publishes are mandatory: no queue, no publish).
        await runs[0]?.waitForOutput(/"msg":"worker started"/, 30_000);
        client = new WarrenClient({
          config: testConfig({ amqpUrl: node.url, namespace }),
          logger: memoryLogger('warn').logger,
        });
        await client.start();
        const normalIds = Array.from({ length: NORMAL }, (_, i) => `normal-${i}`);
        // Half before the poison (handled before the first crash), half after (handled once it is dead-lettered).
        for (const [i, id] of normalIds.slice(0, NORMAL / 2).entries())
          await client.publish(JOB_TYPE, { i }, { messageId: id });
        await client.publish(JOB_TYPE, { poison: true }, { messageId: 'poison' });
        for (const [i, id] of normalIds.slice(NORMAL / 2).entries())
          await client.publish(JOB_TYPE, { i: NORMAL / 2 + i }, { messageId: id });

        const dead = deadQueue(namespace, JOB_TYPE);
        try {
          await waitFor(
            'the poison message dead-lettered and every normal job handled',
            async () => handledIds().size === NORMAL && (await inspect(node.url, dead, false)).depth >= 1,
            90_000,
            200,
          );
        } catch (error) {
          throw new Error(
            `${(error as Error).message}; runs ${runs.length}, exits ${JSON.stringify(exits)}, handled ${handledIds().size}\n` +
              `last run stderr: ${current().stderr().slice(-2_000)}`,
            { cause: error },
          );
        }

        // The run that outlived the poison shuts down cleanly.
        supervising = false;
        const last = current();
        await last.waitForOutput(/"msg":"worker started"/, 30_000);
        last.child.kill('SIGTERM');
        await supervisor;

        // warren dlq peek tells how often the poison was delivered (the limit plus one, each delivery a crash), not
        // "1 attempt". Peeked twice: the second read must not count the first (the dead-letter queue's own
        // x-delivery-count grows with every peek).
        for (let peek = 0; peek < 2; peek += 1) {
          const json = await runWarren(['dlq', 'peek', JOB_TYPE, '--json'], env);
          expect(json.code, json.stderr).toBe(0);
          expect(JSON.parse(json.stdout)).toMatchObject([
            {
              messageId: 'poison',
              source: 'broker',
              reason: 'delivery_limit',
              deliveries: DELIVERY_LIMIT + 1,
              attempts: DELIVERY_LIMIT + 1,
              originalQueue: jobQueue(namespace, JOB_TYPE),
            },
          ]);
        }
        const text = await runWarren(['dlq', 'peek', JOB_TYPE], env);
        expect(text.stdout).toMatch(
          new RegExp(`^#1 {2}poison {2}delivery_limit, delivered ${DELIVERY_LIMIT + 1} times\n`),
        );

        // Only the poison was dead-lettered, by the broker, for passing the delivery limit.
        const { depth, message } = await inspect(node.url, dead, true);
        expect(depth).toBe(1);
        expect(message).not.toBe(false);
        const { properties, content } = message as GetMessage;
        expect(properties.messageId).toBe('poison');
        expect(JSON.parse(content.toString())).toEqual({ poison: true });
        const headers = properties.headers ?? {};
        const deaths = headers['x-death'] as Array<Record<string, unknown>> | undefined;
        expect(headers['x-first-death-reason']).toBe('delivery_limit');
        expect(headers['x-first-death-queue']).toBe(jobQueue(namespace, JOB_TYPE));
        expect(deaths?.[0]).toMatchObject({ reason: 'delivery_limit', queue: jobQueue(namespace, JOB_TYPE) });

        // Every normal job was handled, across all runs, once: a job handled twice was deferred (copied to the back of
        // the queue) while the poison ran alone, and its ack had not reached the broker when the poison killed the run.
        expect(handledIds()).toEqual(new Set(normalIds));
        expect(handled().filter((id, index, all) => all.indexOf(id) !== index)).toEqual([]);
        expect((await inspect(node.url, jobQueue(namespace, JOB_TYPE), false)).depth).toBe(0);

        // The crash loop was bounded by the delivery limit: the poison was delivered limit + 1 times, each delivery
        // killed one run, and the run after that lived on (and exited 0 on SIGTERM).
        const crashes = logLines(output()).filter((line) => line['event'] === 'crashing');
        expect(crashes.map((line) => line['attempt'])).toEqual(
          Array.from({ length: DELIVERY_LIMIT + 1 }, (_, k) => k + 1),
        );
        expect(exits).toEqual([...Array.from({ length: DELIVERY_LIMIT + 1 }, () => 1), 0]);
        // Each of those runs died of the poison, not of something else (a restart gets it before "worker started").
        for (const run of runs.slice(0, -1))
          expect(logLines(run.stdout()).filter((line) => line['event'] === 'crashing')).toHaveLength(1);
      });
    },
  );
});
