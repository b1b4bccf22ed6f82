import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, defineSchedule } from 'warren';
import { DEFAULT_SCHEDULES_FILE, loadSchedulesFile, mergeSchedules } from '../../../src/scheduler/load-schedules.js';

/** A fresh directory with the given files (paths relative to it). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-schedules-'));
  for (const [path, text] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}

const nightly = {
  name: 'nightly',
  cron: '0 3 * * *',
  timeZone: 'Europe/Berlin',
  jobType: 'report.generate',
  payload: { kind: 'daily' },
  catchUpMs: '6h',
};
const everyMinute = { name: 'every-minute', cron: '* * * * *', jobType: 'tick' };

describe('loadSchedulesFile', () => {
  it('reads config/schedules.json under the working directory when no file is set', () => {
    const dir = project({ [DEFAULT_SCHEDULES_FILE]: JSON.stringify([nightly, everyMinute]) });
    const schedules = loadSchedulesFile('', dir);
    expect(schedules.map((s) => s.name)).toEqual(['nightly', 'every-minute']);
    expect(schedules[0]).toMatchObject({
      kind: 'warren.schedule',
      timeZone: 'Europe/Berlin',
      payload: { kind: 'daily' },
      catchUpMs: 21_600_000,
    });
    expect(schedules[1]).toMatchObject({ timeZone: 'UTC', payload: {}, catchUpMs: 0 });
  });

  it('has no schedules when no file is set and the default file does not exist', () => {
    expect(loadSchedulesFile('', project({}))).toEqual([]);
  });

  it('reads the given file, relative to the working directory', () => {
    const dir = project({ 'ops/cron.json': JSON.stringify([everyMinute]) });
    expect(loadSchedulesFile('ops/cron.json', dir).map((s) => s.name)).toEqual(['every-minute']);
    expect(loadSchedulesFile(join(dir, 'ops/cron.json'), '/').map((s) => s.name)).toEqual(['every-minute']);
  });

  it('fails naming the file when a given file is missing (a typo must not silently run no schedules)', () => {
    const dir = project({});
    expect(() => loadSchedulesFile('ops/missing.json', dir)).toThrow(ConfigError);
    expect(() => loadSchedulesFile('ops/missing.json', dir)).toThrow(
      `schedules file ${join(dir, 'ops/missing.json')} cannot be read as JSON`,
    );
  });

  it('fails naming the file on invalid JSON, and on JSON that is not an array', () => {
    const dir = project({ 'bad.json': '[{"name": ', 'object.json': JSON.stringify({ schedules: [everyMinute] }) });
    expect(() => loadSchedulesFile('bad.json', dir)).toThrow(
      new RegExp(`schedules file ${join(dir, 'bad.json')} cannot be read as JSON: `),
    );
    expect(() => loadSchedulesFile('object.json', dir)).toThrow(
      `schedules file ${join(dir, 'object.json')} must hold a JSON array of schedules`,
    );
  });

  it('fails naming the invalid schedule in the file', () => {
    const dir = project({ 'cron.json': JSON.stringify([everyMinute, { ...nightly, timeZone: 'Europe/Atlantis' }]) });
    expect(() => loadSchedulesFile('cron.json', dir)).toThrow(
      /schedule "nightly": unknown time zone "Europe\/Atlantis"/,
    );
  });

  it('reads the example schedules file of the project', () => {
    const schedules = loadSchedulesFile('', fileURLToPath(new URL('../../../', import.meta.url)));
    expect(schedules.length).toBeGreaterThan(0);
    for (const schedule of schedules) expect(schedule.kind).toBe('warren.schedule');
  });
});

describe('mergeSchedules', () => {
  it('combines the file and the code schedules, accepting inputs and definitions alike', () => {
    const merged = mergeSchedules([defineSchedule(nightly)], [everyMinute]);
    expect(merged.map((s) => s.name)).toEqual(['nightly', 'every-minute']);
    expect(merged.every((s) => s.kind === 'warren.schedule')).toBe(true);
    expect(mergeSchedules()).toEqual([]);
    expect(mergeSchedules([], [])).toEqual([]);
  });

  it('refuses a name used twice, naming it: across lists and within one', () => {
    const across = (): unknown => mergeSchedules([defineSchedule(nightly)], [{ ...everyMinute, name: 'nightly' }]);
    expect(across).toThrow(ConfigError);
    expect(across).toThrow('schedule "nightly" is defined twice');
    expect(() => mergeSchedules([everyMinute, everyMinute])).toThrow('schedule "every-minute" is defined twice');
  });

  it('validates plain inputs, naming the schedule', () => {
    expect(() => mergeSchedules([], [{ ...everyMinute, cron: 'nope' }])).toThrow(
      /schedule "every-minute": invalid cron expression "nope"/,
    );
  });
});
