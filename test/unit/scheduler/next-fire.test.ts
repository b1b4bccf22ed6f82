import { describe, expect, it } from 'vitest';
import { loadNodeCron } from '../../../src/scheduler/load-node-cron.js';
import { nextFireAfter } from '../../../src/scheduler/next-fire.js';

const task = (expression: string, timezone = 'UTC') => loadNodeCron().createTask(expression, () => {}, { timezone });
/** The same task seen through its public `match` only: the stepping path. */
const matchOnly = (expression: string, timezone = 'UTC') => {
  const real = task(expression, timezone);
  return { match: (date: Date) => real.match(date) };
};

describe('nextFireAfter', () => {
  const cases: Array<[string, string, string, string]> = [
    ['*/15 * * * *', 'UTC', '2026-03-01T10:07:30.000Z', '2026-03-01T10:15:00.000Z'],
    ['*/15 * * * *', 'UTC', '2026-03-01T10:15:00.000Z', '2026-03-01T10:30:00.000Z'],
    ['*/10 * * * * *', 'UTC', '2026-03-01T10:00:05.500Z', '2026-03-01T10:00:10.000Z'],
    // 03:00 in Berlin: 02:00 UTC in winter, 01:00 UTC once summer time began on 29 March 2026.
    ['0 3 * * *', 'Europe/Berlin', '2026-03-28T12:00:00.000Z', '2026-03-29T01:00:00.000Z'],
    ['0 3 * * *', 'Europe/Berlin', '2026-03-27T12:00:00.000Z', '2026-03-28T02:00:00.000Z'],
    ['0 0 29 2 *', 'UTC', '2026-03-01T00:00:00.000Z', '2028-02-29T00:00:00.000Z'],
  ];

  it.each(cases)('%s (%s) after %s is %s, strictly later', (expression, zone, after, next) => {
    expect(nextFireAfter(task(expression, zone), expression, Date.parse(after))?.toISOString()).toBe(next);
  });

  it.each(cases.slice(0, 5))(
    'steps through match() to the same answer without node-cron’s matcher: %s',
    (expression, zone, after, next) => {
      expect(nextFireAfter(matchOnly(expression, zone), expression, Date.parse(after))?.toISOString()).toBe(next);
    },
  );

  it('does not trust a matcher whose answer match() refuses', () => {
    const real = task('0 * * * *');
    const lying = {
      match: (date: Date) => real.match(date),
      timeMatcher: { getNextMatch: () => new Date('2026-03-01T10:30:00.000Z') },
    };
    expect(nextFireAfter(lying, '0 * * * *', Date.parse('2026-03-01T10:07:00.000Z'))?.toISOString()).toBe(
      '2026-03-01T11:00:00.000Z',
    );
  });
});
