import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, HEADERS, Registry, Worker } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { logLines, spawnWarren, type WarrenProcess } from '../helpers/cli.js';
import { deleteRedisNamespace } from '../helpers/redis-server.js';

/** Every second, job type `tick.x`. */
const SCHEDULES_FILE = 'test/fixtures/schedule-every-second.json';
const SCHEDULE = 'every-second';
const JOB_TYPE = 'tick.x';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Arrival {
  readonly jobId: string;
  readonly schedule: unknown;
  readonly at: number;
}

/**
 * A namespace with a consumer of `tick.x` that sees every copy that arrives (no de-duplication: this is about
 * what the schedulers publish), and a way to start `warren scheduler` replicas on it.
 */
async function setup(fireLockTtl: string) {
  const config = testConfig({ redisUrl: 'none' });
  const { namespace } = config;
  cleanups.push(() => deleteRedisNamespace(namespace));
  cleanups.push(() => deleteNamespace(namespace, [JOB_TYPE]));
  const arrivals: Arrival[] = [];
  const consumer = new Worker({
    config,
    registry: new Registry().add([
      defineJob(
        JOB_TYPE,
        (_payload, ctx) =>
          void arrivals.push({ jobId: ctx.jobId, schedule: ctx.headers[HEADERS.schedule], at: Date.now() }),
        { concurrency: 50 },
      ),
    ]),
    logger: memoryLogger('silent').logger,
  });
  cleanups.push(() => consumer.stop());
  await consumer.start();

  const env = {
    WARREN_NAMESPACE: namespace,
    WARREN_SCHEDULES: SCHEDULES_FILE,
    WARREN_FIRE_LOCK_TTL_MS: fireLockTtl,
    WARREN_LOG_LEVEL: 'info',
  };
  const replicas: WarrenProcess[] = [];
  const startReplicas = async (count: number): Promise<WarrenProcess[]> => {
    const started = Array.from({ length: count }, () => {
      const proc = spawnWarren(['scheduler'], env);
      cleanups.push(async () => {
        if (proc.child.exitCode === null && proc.child.signalCode === null) {
          proc.child.kill('SIGCONT');
          proc.child.kill('SIGKILL');
        }
        await proc.exited;
      });
      return proc;
    });
    replicas.push(...started);
    await Promise.all(started.map((proc) => proc.waitForOutput(/"msg":"scheduler started"/, 30_000)));
    return started;
  };
  /** The fire times (ms) of the jobs that arrived, with their count. */
  const fireCounts = (): Map<number, number> => {
    const counts = new Map<number, number>();
    for (const arrival of arrivals) {
      const time = Date.parse(arrival.jobId.slice(`${SCHEDULE}@`.length));
      counts.set(time, (counts.get(time) ?? 0) + 1);
    }
    return counts;
  };
  return { namespace, arrivals, replicas, startReplicas, fireCounts };
}

/** Message ids each replica logged as published. */
function publishedBy(proc: WarrenProcess): string[] {
  return logLines(proc.stdout())
    .filter((line) => line['msg'] === 'scheduled job published')
    .map((line) => String(line['messageId']));
}

/** Whole seconds from `fromMs` to `toMs`, both rounded inwards. */
function secondsBetween(fromMs: number, toMs: number): number[] {
  const seconds: number[] = [];
  for (let t = Math.ceil(fromMs / 1000) * 1000; t <= toMs; t += 1000) seconds.push(t);
  return seconds;
}

/** Runs of consecutive missing fire times among `expected`. */
function gaps(expected: readonly number[], counts: ReadonlyMap<number, number>): number[][] {
  const runs: number[][] = [];
  let current: number[] = [];
  for (const time of expected) {
    if (counts.has(time)) {
      if (current.length > 0) runs.push(current);
      current = [];
    } else current.push(time);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('warren scheduler replicas (per-second schedule, per-fire locks in Redis)', () => {
  it('three schedulers for 30 s: exactly one job per fire time, none missing', async () => {
    const { arrivals, startReplicas, fireCounts } = await setup('5s');
    const replicas = await startReplicas(3);
    const windowStart = Date.now();
    // Let the schedule fire for 30 s with all three racing for every fire.
    await sleep(30_000);
    const windowEnd = Date.now();
    await Promise.all(
      replicas.map(async (proc) => {
        proc.child.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
      }),
    );
    const expected = secondsBetween(windowStart, windowEnd);
    await waitFor(
      'the last fires to arrive',
      () => expected.slice(0, -1).every((t) => fireCounts().has(t)),
      5_000,
    ).catch(() => {});

    // Every arrival is a fire of the schedule, with the deterministic id <schedule>@<fire time ISO>.
    for (const arrival of arrivals) {
      expect(arrival.jobId).toMatch(/^every-second@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(arrival.schedule).toBe(SCHEDULE);
    }
    // Exactly once: no fire time arrived twice.
    const counts = fireCounts();
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([t, n]) => `${iso(t)}×${n}`);
    expect(duplicates).toEqual([]);
    // Every fire time of the window arrived; at most one missing at each edge.
    const missing = gaps(expected, counts);
    const interior = missing.filter((run) => run[0] !== expected[0] && run.at(-1) !== expected.at(-1));
    expect(
      interior.map((run) => run.map(iso)),
      `missing fires inside the window`,
    ).toEqual([]);
    for (const run of missing)
      expect(run.length, `missing at an edge: ${run.map(iso).join(', ')}`).toBeLessThanOrEqual(1);
    expect(expected.length).toBeGreaterThanOrEqual(29);

    // The lock kept the work single too: each fire was published by exactly one replica.
    const published = replicas.flatMap(publishedBy);
    expect(published.length).toBe(new Set(published).size);
    expect(new Set(published)).toEqual(new Set(arrivals.map((a) => a.jobId)));
    // Nothing was skipped for want of Redis.
    for (const proc of replicas) expect(proc.stdout()).not.toContain('lock store (Redis) is unavailable');
  });

  it('the replica that won a fire is SIGKILLed, then another is SIGSTOPped past the lock TTL: no fire twice, no gap beyond one or two', async () => {
    const { startReplicas, fireCounts } = await setup('1500ms');
    const replicas = await startReplicas(3);
    await waitFor('fires to be published', () => replicas.flatMap(publishedBy).length >= 3, 10_000);

    // 1. SIGKILL the replica that published the latest fire.
    const latest = (proc: WarrenProcess): string => publishedBy(proc).sort().at(-1) ?? '';
    const winner = [...replicas].sort((a, b) => latest(b).localeCompare(latest(a)))[0] as WarrenProcess;
    const wonFire = Date.parse(latest(winner).slice(`${SCHEDULE}@`.length));
    winner.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await winner.exited).toBe('SIGKILL');
    const [paused, other] = replicas.filter((proc) => proc !== winner) as [WarrenProcess, WarrenProcess];
    // Let the schedule fire for 5 s with the two survivors.
    await sleep(5_000);

    // 2. SIGSTOP one survivor for 3 s: twice the 1.5 s lock TTL of any fire it was handling.
    const pausedAt = Date.now();
    paused.child.kill('SIGSTOP');
    await sleep(3_000);
    paused.child.kill('SIGCONT');
    const resumedAt = Date.now();
    await paused.waitForOutput(/fire missed/, 5_000);
    // Both run side by side again for a while.
    await sleep(2_000);
    const until = Date.now();
    await Promise.all(
      [paused, other].map(async (proc) => {
        proc.child.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
      }),
    );

    const expected = secondsBetween(wonFire + 1_000, until - 1_000);
    await waitFor('the last fires to arrive', () => expected.every((t) => fireCounts().has(t)), 3_000).catch(() => {});
    const counts = fireCounts();
    // No fire arrived twice, and none was published twice.
    expect([...counts].filter(([, n]) => n > 1).map(([t]) => iso(t))).toEqual([]);
    const published = replicas.flatMap(publishedBy);
    expect(published.length).toBe(new Set(published).size);

    // At most the fire in progress is lost at each fault: the killed replica may have taken the lock of the fire after
    // its last one and died before publishing it; the paused one may have taken a lock just before it stopped.
    const missing = gaps(expected, counts);
    const describeMissing = JSON.stringify(missing.map((run) => run.map(iso)));
    expect(missing.length, `gaps: ${describeMissing}`).toBeLessThanOrEqual(2);
    for (const run of missing) {
      expect(run.length, `gaps: ${describeMissing}`).toBeLessThanOrEqual(2);
      const nearKill = (run[0] as number) <= killedAt + 1_000;
      const nearPause = (run[0] as number) >= pausedAt - 1_000 && (run[0] as number) <= pausedAt + 1_000;
      expect(nearKill || nearPause, `gap at ${iso(run[0] as number)}: not at a fault`).toBe(true);
    }

    // The fires after the kill were published by the survivors.
    const bySurvivors = new Set([...publishedBy(paused), ...publishedBy(other)]);
    const afterKill = expected.filter((t) => t > killedAt + 1_000 && t < pausedAt - 1_000);
    expect(afterKill.length).toBeGreaterThanOrEqual(3);
    for (const t of afterKill) expect(bySurvivors.has(`${SCHEDULE}@${iso(t)}`), iso(t)).toBe(true);

    // The paused replica skipped what it slept through (counted as missed) instead of publishing it late; the other
    // published those fires.
    const missed = logLines(paused.stdout()).filter(
      (line) => line['msg'] === 'fire missed (the process was busy or paused)',
    );
    expect(missed.length).toBeGreaterThanOrEqual(1);
    const sleptThrough = expected.filter((t) => t > pausedAt + 1_000 && t < resumedAt - 1_000);
    expect(sleptThrough.length).toBeGreaterThanOrEqual(1);
    for (const t of sleptThrough) {
      expect(publishedBy(paused)).not.toContain(`${SCHEDULE}@${iso(t)}`);
      expect(publishedBy(other), iso(t)).toContain(`${SCHEDULE}@${iso(t)}`);
    }
  });
});
