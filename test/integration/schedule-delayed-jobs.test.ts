import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, HEADERS } from 'warren';
import { waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const JOBS = 200;
const BATCH = 20;
const TOLERANCE_MS = 1_500;

interface Arrival {
  readonly at: number;
  readonly dueAtHeader: number;
}

describe('delayed jobs, many at once (binary delay cascade)', () => {
  it(`the first delayed publish, then ${JOBS} jobs with random delays of 1-20 s: each arrives at or after its due time, within ${TOLERANCE_MS} ms`, async () => {
    const arrivals = new Map<string, Arrival[]>();
    harness = await startHarness([
      defineJob(
        'delay.many',
        (_payload, ctx) => {
          const list = arrivals.get(ctx.jobId) ?? [];
          list.push({ at: Date.now(), dueAtHeader: Date.parse(String(ctx.headers[HEADERS.dueAt])) });
          arrivals.set(ctx.jobId, list);
        },
        { concurrency: 50 },
      ),
    ]);
    const { client } = harness;
    // The first delayed publish of the client declares the cascade (which takes a second or so). 1.001 s rounds up to
    // 2 s: the rounding must be of what is left once the cascade is declared, or the job is late by the declaration.
    const firstStarted = Date.now();
    await client.publish('delay.many', {}, { messageId: 'first', delayMs: 1_001 });
    const firstPublishMs = Date.now() - firstStarted;
    await client.publish('delay.many', {}, { messageId: 'in-a-day', delayMs: 86_400_000 });

    const due = new Map<string, { earliest: number; latest: number; delayMs: number }>();
    // Published as an application would, a few at a time (every publish waits for its confirm).
    for (let batch = 0; batch < JOBS / BATCH; batch += 1) {
      await Promise.all(
        Array.from({ length: BATCH }, async (_, j) => {
          const i = batch * BATCH + j;
          const delayMs = 1_000 + Math.floor(Math.random() * 19_001);
          const id = `job-${i}`;
          const before = Date.now();
          await client.publish('delay.many', { i }, { messageId: id, delayMs });
          // The job is due `delayMs` after some instant of the publish call.
          due.set(id, { earliest: before + delayMs, latest: Date.now() + delayMs, delayMs });
        }),
      );
    }
    const lastDue = Math.max(...[...due.values()].map((d) => d.latest));
    await waitFor(`all ${JOBS} jobs`, () => arrivals.size >= JOBS + 1, lastDue - Date.now() + 5_000, 20).catch(
      () => {},
    );

    const problems: string[] = [];
    const lateness: number[] = [];
    for (const [id, { earliest, latest, delayMs }] of due) {
      const list = arrivals.get(id) ?? [];
      if (list.length !== 1) {
        problems.push(`${id}: arrived ${list.length} times`);
        continue;
      }
      const { at, dueAtHeader } = list[0] as Arrival;
      // The due time the publisher stamped lies within the publish call.
      if (dueAtHeader < earliest || dueAtHeader > latest)
        problems.push(`${id}: x-warren-due-at ${dueAtHeader} outside [${earliest}, ${latest}]`);
      if (at < dueAtHeader) problems.push(`${id} (delay ${delayMs} ms): ${dueAtHeader - at} ms EARLY`);
      if (at > dueAtHeader + TOLERANCE_MS) problems.push(`${id} (delay ${delayMs} ms): ${at - dueAtHeader} ms late`);
      lateness.push(at - dueAtHeader);
    }
    const first = (arrivals.get('first') ?? [])[0];
    if (first === undefined) problems.push('first: never arrived');
    else if (first.at < first.dueAtHeader || first.at > first.dueAtHeader + TOLERANCE_MS) {
      problems.push(
        `first delayed publish (declaring the cascade took ${firstPublishMs} ms): ${first.at - first.dueAtHeader} ms late`,
      );
    }
    lateness.sort((a, b) => a - b);
    const summary = `lateness ms: min ${lateness[0]}, median ${lateness[Math.floor(lateness.length / 2)]}, p99 ${lateness[Math.floor(lateness.length * 0.99)]}, max ${lateness.at(-1)}`;
    expect(problems, summary).toEqual([]);
    expect(arrivals.has('in-a-day')).toBe(false);
  });
});
