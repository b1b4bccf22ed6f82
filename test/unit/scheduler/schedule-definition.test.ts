import { describe, expect, it } from 'vitest';
import { ConfigError, defineSchedule, fireMessageId, type ScheduleInput } from 'warren';
import { isScheduleDefinition } from '../../../src/scheduler/schedule-definition.js';

const valid: ScheduleInput = { name: 'nightly-report', cron: '0 3 * * *', jobType: 'report.generate' };

/** The ConfigError `defineSchedule` throws for `input`. */
function failure(input: unknown): ConfigError {
  try {
    defineSchedule(input as ScheduleInput);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`defineSchedule accepted ${JSON.stringify(input)}`);
}

describe('defineSchedule', () => {
  it('applies the defaults: UTC, an empty payload, no catch-up; the result is frozen and recognisable', () => {
    const schedule = defineSchedule(valid);
    expect(schedule).toEqual({
      kind: 'warren.schedule',
      name: 'nightly-report',
      cron: '0 3 * * *',
      timeZone: 'UTC',
      jobType: 'report.generate',
      payload: {},
      catchUpMs: 0,
    });
    expect(Object.isFrozen(schedule)).toBe(true);
    expect(isScheduleDefinition(schedule)).toBe(true);
    expect(isScheduleDefinition(valid)).toBe(false);
    expect(isScheduleDefinition(null)).toBe(false);
  });

  it('keeps what was given: a seconds field, a time zone, a payload', () => {
    const schedule = defineSchedule({
      ...valid,
      cron: '*/10 * * * * *',
      timeZone: 'Europe/Berlin',
      payload: { kind: 'daily' },
      catchUpMs: 5_000,
    });
    expect(schedule).toMatchObject({
      cron: '*/10 * * * * *',
      timeZone: 'Europe/Berlin',
      payload: { kind: 'daily' },
      catchUpMs: 5_000,
    });
  });

  it.each([
    ['6h', 21_600_000],
    ['90s', 90_000],
    ['1500', 1_500],
    ['250ms', 250],
    [3_600_000, 3_600_000],
    [0, 0],
  ])('reads catchUpMs %j as %i ms', (given, ms) => {
    expect(defineSchedule({ ...valid, catchUpMs: given }).catchUpMs).toBe(ms);
  });

  it.each([
    ['an invalid expression', { cron: 'every day' }, /schedule "nightly-report": invalid cron expression "every day"/],
    [
      'seven fields',
      { cron: '* * * * * * *' },
      /schedule "nightly-report": invalid cron expression .*expected 5 or 6 fields but got 7/,
    ],
    [
      'a minute out of range',
      { cron: '61 * * * *' },
      /schedule "nightly-report": invalid cron expression "61 \* \* \* \*": minute:/,
    ],
    [
      'a day that never comes',
      { cron: '0 0 31 2 *' },
      /schedule "nightly-report": invalid cron expression "0 0 31 2 \*"/,
    ],
    ['no expression', { cron: undefined }, /schedule "nightly-report": cron must be a cron expression; got undefined/],
    [
      'an unknown time zone',
      { timeZone: 'Mars/Olympus_Mons' },
      /schedule "nightly-report": unknown time zone "Mars\/Olympus_Mons"/,
    ],
    ['an empty time zone', { timeZone: '' }, /schedule "nightly-report": unknown time zone ""/],
    [
      'a job type with a wildcard',
      { jobType: 'report.*' },
      /schedule "nightly-report": jobType must be a job type; got "report\.\*"/,
    ],
    ['no job type', { jobType: undefined }, /schedule "nightly-report": jobType must be a job type; got undefined/],
    [
      'a catch-up word',
      { catchUpMs: 'soon' },
      /schedule "nightly-report": catchUpMs must be a duration such as 0, 3600000 or "1h"; got "soon"/,
    ],
    ['a negative catch-up', { catchUpMs: -1 }, /schedule "nightly-report": catchUpMs must be .*; got -1/],
    ['a fractional catch-up', { catchUpMs: 1.5 }, /schedule "nightly-report": catchUpMs must be .*; got 1.5/],
    ['an infinite catch-up', { catchUpMs: Number.POSITIVE_INFINITY }, /schedule "nightly-report": catchUpMs must be/],
    ['a boolean catch-up', { catchUpMs: true }, /schedule "nightly-report": catchUpMs must be .*; got true/],
  ])('refuses %s, naming the schedule', (_what, change, message) => {
    expect(failure({ ...valid, ...change }).message).toMatch(message);
  });

  it.each([
    ['', 'a name that is empty', '""'],
    ['has space', 'a name with a space', '"has space"'],
    ['-leading-dash', 'a name starting with a dash', '"-leading-dash"'],
    ['a/b', 'a name with a slash', '"a/b"'],
    ['x'.repeat(101), 'a name over 100 characters', `"${'x'.repeat(101)}"`],
  ])('refuses the name %j (%s), showing it', (name, _what, shown) => {
    const error = failure({ ...valid, name });
    expect(error.message).toContain(`schedule ${shown}: name must be 1-100 letters, digits, ".", ":", "-" or "_"`);
    expect(error.code).toBe('WARREN_ERR_CONFIG');
  });

  it('refuses a missing or non-string name, showing what was given', () => {
    expect(failure({ ...valid, name: undefined }).message).toMatch(/^schedule undefined: name must be/);
    expect(failure({ ...valid, name: 42 }).message).toMatch(/^schedule 42: name must be/);
  });

  it('accepts names with dots, colons, dashes and underscores, up to 100 characters', () => {
    for (const name of ['a', 'billing:invoice.monthly-run_2', 'x'.repeat(100)])
      expect(defineSchedule({ ...valid, name }).name).toBe(name);
  });
});

describe('fireMessageId', () => {
  it('is <schedule>@<fire time ISO>, the same in every replica', () => {
    const fire = new Date('2026-03-29T01:00:00.000Z');
    expect(fireMessageId('nightly-report', fire)).toBe('nightly-report@2026-03-29T01:00:00.000Z');
    expect(fireMessageId('nightly-report', new Date(fire.getTime()))).toBe(fireMessageId('nightly-report', fire));
  });

  it('is in UTC whatever the schedule time zone: an instant, not a wall-clock time', () => {
    // 03:00 in Berlin on a summer day is 01:00 UTC.
    const berlinThreeAm = new Date('2026-07-01T03:00:00+02:00');
    expect(fireMessageId('nightly', berlinThreeAm)).toBe('nightly@2026-07-01T01:00:00.000Z');
  });

  it('differs between fire times and between schedules', () => {
    const a = new Date('2026-01-01T00:00:00Z');
    const b = new Date('2026-01-01T00:00:01Z');
    expect(new Set([fireMessageId('s', a), fireMessageId('s', b), fireMessageId('t', a)]).size).toBe(3);
  });
});
