import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Scheduler, defineSchedule } from 'warren';
import { loadNodeCron } from '../../../src/scheduler/load-node-cron.js';

describe('Scheduler#describe without a running scheduler', () => {
  it('gives the next three fires and leaves no task behind in node-cron', async () => {
    const scheduler = new Scheduler({
      namespace: 'unit',
      schedules: [defineSchedule({ name: 'nightly', cron: '0 3 * * *', timeZone: 'Europe/Berlin', jobType: 'a.b' })],
      publish: () => Promise.reject(new Error('not here')),
      redis: undefined,
      fireLockTtlMs: 1_000,
      logger: pino({ level: 'silent' }),
    });
    const before = loadNodeCron().getTasks().size;
    for (let round = 0; round < 3; round += 1) {
      const [status] = await scheduler.describe();
      expect(status?.nextFires).toHaveLength(3);
      expect(status?.lastFire).toBeNull();
    }
    expect(loadNodeCron().getTasks().size).toBe(before);
  });
});
