import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Registry, Worker, defineJob, jobQueue, jobsExchange } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { runWarren } from '../helpers/cli.js';
import { installTracing, parentOf, type TestTracing } from '../helpers/tracing.js';

const PRELOAD = fileURLToPath(new URL('../fixtures/tracing-preload.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'warren-tracing-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: Array<() => Promise<unknown>> = [];
let tracing: TestTracing | undefined;
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await tracing?.uninstall();
  tracing = undefined;
});

/** A span as the preload writes it. */
interface WrittenSpan {
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly attributes: Record<string, unknown>;
  readonly status: { code: number };
  readonly scope: string;
}

describe('warren publish with a tracer provider registered by a preload (node --import)', () => {
  it.each([
    ['kept in memory', '0'],
    ['batched and flushed on beforeExit, as the README’s preload does', '1'],
  ])('emits a publish span (%s), and the job processed by a worker elsewhere is its child', async (_how, batch) => {
    // The worker is traced too, in this process: the trace crosses from the CLI to it in the message's headers.
    tracing = installTracing();
    const config = testConfig({ redisUrl: 'none' });
    cleanups.push(() => deleteNamespace(config.namespace, ['trace.cli']));
    const ran: string[] = [];
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob('trace.cli', (_payload, ctx) => void ran.push(ctx.jobId))]),
      logger: memoryLogger('silent').logger,
    });
    cleanups.push(() => worker.stop());
    await worker.start();

    const file = join(dir, `spans-${batch}.json`);
    const result = await runWarren(['publish', 'trace.cli', '{"n":1}', '--id', `cli-${batch}`], {
      WARREN_NAMESPACE: config.namespace,
      NODE_OPTIONS: `--import=${PRELOAD}`,
      TRACING_FIXTURE_SPANS: file,
      TRACING_FIXTURE_BATCH: batch,
    });
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: `cli-${batch}\n` });
    const written = JSON.parse(readFileSync(file, 'utf8')) as WrittenSpan[];
    expect(written).toHaveLength(1);
    const [published] = written as [WrittenSpan];
    expect(published).toMatchObject({
      name: `publish ${jobsExchange(config.namespace)}`,
      kind: SpanKind.PRODUCER,
      scope: 'warren',
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': jobsExchange(config.namespace),
        'messaging.rabbitmq.destination.routing_key': 'trace.cli',
        'messaging.message.id': `cli-${batch}`,
        'warren.job_type': 'trace.cli',
        'warren.attempt': 1,
      },
    });
    expect(published.parentSpanId).toBeUndefined();

    const queue = jobQueue(config.namespace, 'trace.cli');
    await waitFor('the job processed', () => tracing?.spans().some((s) => s.name === `process ${queue}`) === true);
    const processed = tracing.spans().find((s) => s.name === `process ${queue}`) as ReadableSpan;
    expect(ran).toEqual([`cli-${batch}`]);
    expect(processed.spanContext().traceId).toBe(published.traceId);
    expect(parentOf(processed)).toBe(published.spanId);
  });

  it('emits nothing, and publishes as before, without one', async () => {
    const config = testConfig({ redisUrl: 'none' });
    cleanups.push(() => deleteNamespace(config.namespace, ['trace.cli']));
    const headers: Array<Record<string, unknown>> = [];
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob('trace.cli', (_payload, ctx) => void headers.push({ ...ctx.headers }))]),
      logger: memoryLogger('silent').logger,
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const result = await runWarren(['publish', 'trace.cli', '{}', '--id', 'cli-2'], {
      WARREN_NAMESPACE: config.namespace,
    });
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: 'cli-2\n' });
    await waitFor('the job processed', () => headers.length === 1);
    expect(headers[0]).not.toHaveProperty('traceparent');
  });
});
