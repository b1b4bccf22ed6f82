import { afterEach, describe, expect, it } from 'vitest';
import { defineSchedule, Scheduler, type FireOutcome } from 'warren';
import type { SchedulePublish } from '../../../src/scheduler/scheduler.js';
import { memoryLogger, waitFor } from '../../helpers/broker.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A scheduler without Redis (no locks: nothing leaves the process) whose publish is `publish`. */
function scheduler(
  names: readonly string[],
  publish: SchedulePublish,
  onFire?: (schedule: string, outcome: FireOutcome) => void,
): Scheduler {
  const s = new Scheduler({
    namespace: 'unit-shared-fire',
    schedules: names.map((name) => defineSchedule({ name, cron: '* * * * * *', jobType: 'tick' })),
    redis: undefined,
    fireLockTtlMs: 5_000,
    logger: memoryLogger('silent').logger,
    publish,
    ...(onFire ? { onFire } : {}),
  });
  cleanups.push(() => s.stop());
  return s;
}

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('schedules that share a fire time', () => {
  it('share one timer: 200 schedules of one expression arm one, not 200', async () => {
    const before = timers();
    await scheduler(
      Array.from({ length: 200 }, (_, i) => `s${i}`),
      async (_type, _payload, options) => options.messageId,
    ).start();
    expect(timers() - before).toBeLessThan(5);
  });

  it('are all published when the first one holds the event loop past node-cron’s 1 s tolerance (none reported missed)', async () => {
    const published: string[] = [];
    const outcomes: Array<[string, FireOutcome]> = [];
    let blocked: string | undefined;
    const s = scheduler(
      ['a', 'b', 'c'],
      async (_type, _payload, { messageId }) => {
        if (blocked === undefined) {
          // What a thousand schedules' fires of one instant add up to: CPU the others' timers wait behind.
          blocked = messageId;
          const until = Date.now() + 2_200;
          while (Date.now() < until) {
            /* busy */
          }
        }
        published.push(messageId);
        return messageId;
      },
      (schedule, outcome) => outcomes.push([schedule, outcome]),
    );
    await s.start();
    await waitFor('the first fire', () => blocked !== undefined, 3_000);
    const fireTime = (blocked as string).slice((blocked as string).indexOf('@'));
    await waitFor(
      'every schedule of that fire time published',
      () => ['a', 'b', 'c'].every((name) => published.includes(`${name}${fireTime}`)),
      1_000,
    );
    await s.stop();
    expect(outcomes.filter(([, o]) => o === 'published').length).toBeGreaterThanOrEqual(3);
  });

  it('stop firing when the scheduler stops in the middle of a fire time', async () => {
    let calls = 0;
    const s = scheduler(
      Array.from({ length: 250 }, (_, i) => `s${i}`),
      async (_type, _payload, { messageId }) => {
        calls += 1;
        if (calls === 1) void s.stop();
        return messageId;
      },
    );
    await s.start();
    await waitFor('the first fire', () => calls > 0, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(250);
  });
});
