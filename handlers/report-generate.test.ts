import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ScheduleInput } from 'warren';
import { createTestHarness } from 'warren/testing';
import { Reports } from './report-generate.js';

/** The schedules `warren start` fires, from the schedules file. */
const schedules = JSON.parse(
  readFileSync(new URL('../config/schedules.json', import.meta.url), 'utf8'),
) as ScheduleInput[];

describe('report.generate', () => {
  it('runs the nightly sales report at 03:00 Berlin time, once per night, with the fire as its job id', async () => {
    const harness = createTestHarness({
      handlers: [Reports],
      schedules,
      startAt: new Date('2026-03-27T12:00:00Z'),
    });
    // Across the switch to summer time (29 March 2026): 03:00 is 02:00 UTC before it and 01:00 UTC after.
    await harness.advance('3d');
    expect(harness.handled('report.generate').map((h) => [h.jobId, h.outcome])).toEqual([
      ['nightly-sales-report@2026-03-28T02:00:00.000Z', 'success'],
      ['nightly-sales-report@2026-03-29T01:00:00.000Z', 'success'],
      ['nightly-sales-report@2026-03-30T01:00:00.000Z', 'success'],
    ]);
  });

  it('runs a fire published again after it succeeded once (a retried publish)', async () => {
    const harness = createTestHarness({ handlers: [Reports] });
    const fire = { messageId: 'nightly-sales-report@2026-03-28T02:00:00.000Z', schedule: 'nightly-sales-report' };
    const payload = { reportId: 'nightly-sales', kind: 'daily-sales', from: '2026-03-27', to: '2026-03-28' };
    await harness.publish('report.generate', payload, fire);
    await harness.drain();
    await harness.publish('report.generate', payload, fire);
    await harness.drain();
    expect(harness.handled('report.generate').map((h) => h.outcome)).toEqual(['success', 'duplicate']);
  });

  it('runs two copies of a fire that arrive together both: de-duplication records a job once it succeeded', async () => {
    // As on a broker with concurrency 2: neither copy has succeeded when the other starts.
    const harness = createTestHarness({ handlers: [Reports] });
    const fire = { messageId: 'nightly-sales-report@2026-03-28T02:00:00.000Z', schedule: 'nightly-sales-report' };
    const payload = { reportId: 'nightly-sales', kind: 'daily-sales', from: '2026-03-27', to: '2026-03-28' };
    await harness.publish('report.generate', payload, fire);
    await harness.publish('report.generate', payload, fire);
    await harness.drain();
    expect(harness.handled('report.generate').map((h) => h.outcome)).toEqual(['success', 'success']);
  });

  it('dead-letters a report kind it does not know', async () => {
    const harness = createTestHarness({ handlers: [Reports] });
    await harness.publish('report.generate', { reportId: 'r-1', kind: 'weekly', from: '2026-03-01', to: '2026-03-07' });
    await harness.drain();
    expect(harness.deadLetters('report.generate')).toMatchObject([{ reason: 'invalid_payload' }]);
  });
});
