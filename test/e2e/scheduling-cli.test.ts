import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, HEADERS, Registry, Scheduler, Worker } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { ROOT, runWarren } from '../helpers/cli.js';
import { deleteRedisNamespace, SHARED_REDIS_URL } from '../helpers/redis-server.js';
import { createRedis } from '../../src/redis/create-redis.js';
import { loadSchedulesFile } from '../../src/scheduler/load-schedules.js';

/** A nightly report at 03:00 Berlin time (with catch-up) and a per-second tick. */
const SCHEDULES_FILE = 'test/fixtures/schedule-cli.json';
/** A handlers module whose `schedules` export adds `from-module` (job type `cli.report`). */
const SCHEDULES_MODULE = 'test/fixtures/schedule-handlers.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Arrival {
  readonly jobId: string;
  readonly jobType: string;
  readonly payload: unknown;
  readonly headers: Record<string, unknown>;
  readonly at: number;
}

interface Listed {
  name: string;
  cron: string;
  timeZone: string;
  jobType: string;
  catchUpMs: number;
  nextFires: string[];
  lastFire: string | null;
}

/** A namespace whose job types `cli.report` and `cli.tick` are consumed in-test (every copy seen), and its env. */
async function setup() {
  const config = testConfig({ redisUrl: 'none' });
  const { namespace } = config;
  cleanups.push(() => deleteRedisNamespace(namespace));
  cleanups.push(() => deleteNamespace(namespace, ['cli.report', 'cli.tick']));
  const arrivals: Arrival[] = [];
  const record = (
    payload: unknown,
    ctx: { jobId: string; jobType: string; headers: Readonly<Record<string, unknown>> },
  ): void =>
    void arrivals.push({
      jobId: ctx.jobId,
      jobType: ctx.jobType,
      payload,
      headers: { ...ctx.headers },
      at: Date.now(),
    });
  const consumer = new Worker({
    config,
    registry: new Registry().add([defineJob('cli.report', record), defineJob('cli.tick', record)]),
    logger: memoryLogger('silent').logger,
  });
  cleanups.push(() => consumer.stop());
  await consumer.start();
  return { namespace, arrivals, env: { WARREN_NAMESPACE: namespace, WARREN_SCHEDULES: SCHEDULES_FILE } };
}

/** The wall-clock time of an instant in a time zone, `HH:MM:SS`. */
function wallClock(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}

describe('warren schedules', () => {
  it('--json lists each schedule with its next three fire times (in its time zone) and, after a fire, the last one', async () => {
    const { env } = await setup();
    const before = await runWarren(['schedules', '--json'], env);
    expect(before.code, before.stderr).toBe(0);
    const listed = JSON.parse(before.stdout) as Listed[];
    expect(listed.map((s) => s.name)).toEqual(['nightly-report', 'every-second']);
    const [nightly, tick] = listed as [Listed, Listed];
    expect(nightly).toMatchObject({
      cron: '0 3 * * *',
      timeZone: 'Europe/Berlin',
      jobType: 'cli.report',
      catchUpMs: 21_600_000,
      lastFire: null,
    });
    expect(nightly.nextFires).toHaveLength(3);
    for (const fire of nightly.nextFires) {
      expect(fire).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
      // 03:00 in Berlin, summer (01:00Z) or winter (02:00Z) alike.
      expect(wallClock(fire, 'Europe/Berlin')).toBe('03:00:00');
    }
    const nightlyTimes = nightly.nextFires.map(Date.parse);
    expect(nightlyTimes[0]).toBeGreaterThan(Date.now());
    expect((nightlyTimes[1] as number) - (nightlyTimes[0] as number)).toBeGreaterThanOrEqual(23 * 3_600_000);
    expect((nightlyTimes[2] as number) - (nightlyTimes[1] as number)).toBeLessThanOrEqual(25 * 3_600_000);
    const tickTimes = tick.nextFires.map(Date.parse);
    expect(tickTimes).toHaveLength(3);
    expect([
      (tickTimes[1] as number) - (tickTimes[0] as number),
      (tickTimes[2] as number) - (tickTimes[1] as number),
    ]).toEqual([1_000, 1_000]);
    expect(tick.lastFire).toBeNull();

    // Fire: a scheduler (in-process here; `warren scheduler` itself is exercised in scheduler-replicas.test.ts) runs
    // for a couple of fires of the per-second schedule.
    const published: string[] = [];
    const redis = createRedis(SHARED_REDIS_URL, memoryLogger('silent').logger);
    cleanups.push(async () => redis.disconnect());
    await redis.connect();
    const scheduler = new Scheduler({
      namespace: env.WARREN_NAMESPACE,
      schedules: loadSchedulesFile(SCHEDULES_FILE, ROOT),
      redis,
      fireLockTtlMs: 10_000,
      logger: memoryLogger('silent').logger,
      publish: async (_jobType, _payload, options) => {
        published.push(options.messageId.slice('every-second@'.length));
        return options.messageId;
      },
    });
    cleanups.push(() => scheduler.stop());
    await scheduler.start();
    await waitFor('two fires', () => published.length >= 2, 5_000);
    await scheduler.stop();

    const [after, text] = await Promise.all([runWarren(['schedules', '--json'], env), runWarren(['schedules'], env)]);
    expect(after.code, after.stderr).toBe(0);
    const [nightlyAfter, tickAfter] = JSON.parse(after.stdout) as [Listed, Listed];
    expect(nightlyAfter.lastFire).toBeNull();
    expect(published).toContain(tickAfter.lastFire);
    expect(Date.parse(String(tickAfter.lastFire))).toBeGreaterThanOrEqual(
      Math.max(...published.map(Date.parse)) - 1_000,
    );

    expect(text.code).toBe(0);
    expect(text.stdout).toContain('nightly-report: "0 3 * * *" (Europe/Berlin) → cli.report, catch-up 21600000 ms');
    expect(text.stdout).toContain(`  next: ${nightly.nextFires.join(', ')}`);
    expect(text.stdout).toContain(`  last: ${tickAfter.lastFire}`);
    expect(text.stdout).toContain('  last: never (or not recorded)');
  });

  it('trigger <name> publishes one job of the schedule now, with its header and payload; an unknown name or file is refused', async () => {
    const { env, arrivals } = await setup();
    const started = Date.now();
    const [result, unknown, missingFile] = await Promise.all([
      runWarren(['schedules', 'trigger', 'nightly-report'], env),
      runWarren(['schedules', 'trigger', 'no-such-schedule'], env),
      runWarren(['schedules'], { WARREN_SCHEDULES: 'test/fixtures/no-such-schedules.json' }),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const messageId = result.stdout.trim();
    expect(messageId).toMatch(/^nightly-report@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    const triggeredAt = Date.parse(messageId.slice('nightly-report@'.length));
    expect(triggeredAt).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(triggeredAt).toBeLessThanOrEqual(Date.now());
    await waitFor('the triggered job', () => arrivals.length > 0, 10_000);
    expect(arrivals).toEqual([
      {
        jobId: messageId,
        jobType: 'cli.report',
        payload: { kind: 'nightly' },
        headers: expect.objectContaining({ [HEADERS.schedule]: 'nightly-report' }),
        at: expect.any(Number),
      },
    ]);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no schedule named "no-such-schedule"; known: nightly-report, every-second/);
    expect(missingFile.code).toBe(1);
    expect(missingFile.stderr).toMatch(/^warren: schedules file .*no-such-schedules\.json cannot be read as JSON/);
  });
});

describe('warren schedules options, in every position', () => {
  it('trigger takes --handlers and --json before, between and after its arguments, and from `schedules` itself', async () => {
    const { env, arrivals } = await setup();
    const M = SCHEDULES_MODULE;
    const texts = [
      ['schedules', '--handlers', M, 'trigger', 'from-module'],
      ['schedules', 'trigger', '--handlers', M, 'from-module'],
      ['schedules', 'trigger', 'from-module', '--handlers', M],
    ];
    const jsons = [
      ['schedules', '--json', '--handlers', M, 'trigger', 'from-module'],
      ['schedules', 'trigger', '--json', 'from-module', '--handlers', M],
      ['schedules', '--handlers', M, 'trigger', 'from-module', '--json'],
    ];
    const results = await Promise.all([...texts, ...jsons].map((args) => runWarren(args, env)));
    for (const [index, result] of results.entries()) {
      const args = [...texts, ...jsons][index]?.join(' ');
      expect(result.code, `${args}: ${result.stderr}`).toBe(0);
      if (index < texts.length) expect(result.stdout, args).toMatch(/^from-module@\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
      else
        expect(JSON.parse(result.stdout), args).toEqual({
          messageId: expect.stringMatching(/^from-module@/),
          schedule: 'from-module',
          jobType: 'cli.report',
        });
    }
    await waitFor('the six triggered jobs', () => arrivals.length === 6, 10_000);
    expect(arrivals.map((a) => a.payload)).toEqual(Array.from({ length: 6 }, () => ({ kind: 'module' })));

    // Without the module the schedule is unknown; an option `trigger` does not have is refused, not swallowed.
    const [without, unknownOption] = await Promise.all([
      runWarren(['schedules', 'trigger', 'from-module'], env),
      runWarren(['schedules', 'trigger', 'from-module', '--limit', '3'], env),
    ]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/no schedule named "from-module"; known: nightly-report, every-second/);
    expect(unknownOption.code).not.toBe(0);
    expect(unknownOption.stderr).toMatch(/unknown option '--limit'/);
  });

  it('the list takes --json and --handlers in either order', async () => {
    const { env } = await setup();
    const lists = await Promise.all([
      runWarren(['schedules', '--json', '--handlers', SCHEDULES_MODULE], env),
      runWarren(['schedules', '--handlers', SCHEDULES_MODULE, '--json'], env),
    ]);
    for (const list of lists) {
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as Listed[]).map((s) => s.name)).toEqual([
        'nightly-report',
        'every-second',
        'from-module',
      ]);
    }
  });
});

describe('warren publish --delay / --at', () => {
  it('--delay 3s and --at <ISO> deliver no earlier than due, within 1.5 s of it; bad combinations are refused', async () => {
    const { env, arrivals } = await setup();
    const spawnedAt = Date.now();
    const at = new Date(Math.ceil((spawnedAt + 4_000) / 1000) * 1000);
    const [delayed, timed, both, badDelay, badAt, noQueue] = await Promise.all([
      runWarren(['publish', 'cli.report', '{"via":"delay"}', '--delay', '3s', '--id', 'by-delay', '--json'], env),
      runWarren(['publish', 'cli.report', '{"via":"at"}', '--at', at.toISOString(), '--id', 'by-at'], env),
      runWarren(['publish', 'cli.report', '{}', '--delay', '3s', '--at', '2030-01-01T00:00:00Z'], env),
      runWarren(['publish', 'cli.report', '{}', '--delay', 'soon'], env),
      runWarren(['publish', 'cli.report', '{}', '--at', 'tomorrow'], env),
      runWarren(['publish', 'nobody.home', '{}', '--delay', '5s'], env),
    ]);
    expect(delayed.code, delayed.stderr).toBe(0);
    expect(JSON.parse(delayed.stdout)).toEqual({ messageId: 'by-delay', jobType: 'cli.report' });
    expect(timed).toMatchObject({ code: 0, stdout: 'by-at\n' });

    expect(badDelay.code).not.toBe(0);
    expect(badDelay.stderr).toMatch(/expected a duration such as 90s, 15m or 2h/);
    expect(badAt.code).not.toBe(0);
    expect(badAt.stderr).toMatch(/expected an ISO 8601 time/);
    expect(noQueue.code).toBe(1);
    expect(noQueue.stderr).toMatch(/cannot delay "nobody\.home": its queue .*\.job\.nobody\.home does not exist/);

    await waitFor('both delayed jobs', () => arrivals.length === 2, 10_000);
    const byDelay = arrivals.find((a) => a.jobId === 'by-delay') as Arrival;
    const dueByDelay = Date.parse(String(byDelay.headers[HEADERS.dueAt]));
    // The CLI measured its 3 s from when it ran, after it was spawned.
    expect(dueByDelay).toBeGreaterThanOrEqual(spawnedAt + 3_000);
    expect(byDelay.at).toBeGreaterThanOrEqual(dueByDelay);
    expect(byDelay.payload).toEqual({ via: 'delay' });
    const byAt = arrivals.find((a) => a.jobId === 'by-at') as Arrival;
    expect(byAt.headers[HEADERS.dueAt]).toBe(at.toISOString());
    expect(byAt.at).toBeGreaterThanOrEqual(at.getTime());
    const late = `late by: --delay ${byDelay.at - dueByDelay} ms, --at ${byAt.at - at.getTime()} ms`;
    expect(byDelay.at - dueByDelay, late).toBeLessThanOrEqual(1_500);
    expect(byAt.at - at.getTime(), late).toBeLessThanOrEqual(1_500);

    // Both options at once: refused with a message naming both.
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/--delay[^\n]*--at|--at[^\n]*--delay/);
  });
});
