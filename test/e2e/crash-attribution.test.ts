import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue, WarrenClient } from 'warren';
import type { CrashAttributionRecord, KillWay } from '../fixtures/crash-attribution-handlers.js';
import { deleteNamespace, memoryLogger, queueDepth, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { runWarren } from '../helpers/cli.js';
import { WarrenSupervisor } from '../helpers/supervisor.js';

// A job that kills its worker process must be the only one charged for it: every job that merely ran beside it is
// handled, whatever the concurrency and however the process dies. Each case runs `warren start` under a supervisor
// that restarts it, like systemd's Restart=always. 10–25 s a case on 2 CPUs, most of it the worker's restarts
// (node, the handlers module compiled, the connection: ~1 s each) and suspects run alone one at a time: one to
// three minutes for the file.

const JOB_TYPE = 'crash.attribution';
const FIXTURE = 'test/fixtures/crash-attribution-handlers.ts';
/** Small, so a poison job runs out of deliveries after few restarts. */
const DELIVERY_LIMIT = 3;
/** Innocent jobs in the queue before the worker first starts: the first ones are in flight at the first crash. */
const EARLY = 150;
/** Innocent jobs published once the first crash happened. */
const LATE = 100;
/** Where the poison job sits among the early ones: among the first deliveries, so its neighbours run beside it. */
const POISON_AT = 2;
const POISON = 'poison';
/** How long an innocent job takes: long enough that a full prefetch runs side by side when the poison kills. */
const WORK_MS = 50;
/** Node's heap for the out-of-memory case: a worker at concurrency 50 uses 15–25 MB; the poison passes it at once. */
const HEAP_FLAGS = ['--max-old-space-size=48'];
/** Nothing recorded for this long while a started worker runs and the job queue holds nothing ready: settled. */
const QUIET_MS = 4_000;

const KILL_WAYS: readonly KillWay[] = ['exit', 'timer', 'heap'];
const CONCURRENCIES = [10, 50] as const;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup failed', error);
    }
  }
});

/** A dead letter as `warren dlq peek --json` reports it (the fields read here). */
interface PeekedDeadLetter {
  readonly messageId?: string;
  readonly reason?: string;
  readonly source?: string;
  readonly deliveries?: number;
}

function readRecords(file: string): CrashAttributionRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as CrashAttributionRecord);
}

async function publishAll(client: WarrenClient, jobs: ReadonlyArray<{ id: string; payload: object }>): Promise<void> {
  // Confirmed, in order, 50 outstanding at a time.
  for (let i = 0; i < jobs.length; i += 50) {
    await Promise.all(
      jobs.slice(i, i + 50).map(({ id, payload }) => client.publish(JOB_TYPE, payload, { messageId: id })),
    );
  }
}

/** Up to ten of `items`, and how many more. */
function few(items: readonly string[]): string {
  const shown = items.slice(0, 10).join(', ');
  return items.length > 10 ? `${shown} and ${items.length - 10} more` : shown === '' ? 'none' : shown;
}

const describeLetter = (letter: PeekedDeadLetter): string => `${letter.messageId} (${letter.reason})`;

const ids = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, n) => `${prefix}-${String(n).padStart(3, '0')}`);

describe.each(KILL_WAYS)('a handler that kills its worker (%s), under a supervisor that restarts it', (kill) => {
  it.each(CONCURRENCIES)(
    'at concurrency %i only the poison job is dead-lettered (delivery_limit), every job beside it is handled, and the flow goes on',
    async (concurrency) => {
      const began = Date.now();
      const namespace = uniqueNamespace('crashattr');
      cleanups.push(() => deleteNamespace(namespace, [JOB_TYPE]));
      const dir = mkdtempSync(join(tmpdir(), 'warren-crash-attribution-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const recordFile = join(dir, 'record.jsonl');
      const env = {
        WARREN_NAMESPACE: namespace,
        WARREN_DELIVERY_LIMIT: String(DELIVERY_LIMIT),
        WARREN_LOG_LEVEL: 'warn',
        WARREN_SHUTDOWN_GRACE_MS: '2s',
        WARREN_SCHEDULES: 'test/fixtures/schedule-none.json',
        CRASH_ATTRIBUTION_RECORD: recordFile,
        CRASH_ATTRIBUTION_CONCURRENCY: String(concurrency),
        CRASH_ATTRIBUTION_WORK_MS: String(WORK_MS),
      };

      // The whole early batch waits in the queue before the first worker starts: its first deliveries fill the
      // prefetch, the poison among them, so the first crash hits `concurrency` jobs in flight.
      const topology = await runWarren(['topology', '--apply', '--handlers', FIXTURE], env);
      expect(topology.code, topology.stderr).toBe(0);
      const client = new WarrenClient({
        config: testConfig({ namespace, deliveryLimit: DELIVERY_LIMIT }),
        logger: memoryLogger('warn').logger,
      });
      cleanups.push(() => client.close());
      await client.start();
      const early = ids('early', EARLY);
      const late = ids('late', LATE);
      const innocents = [...early, ...late];
      const earlyJobs: Array<{ id: string; payload: object }> = early.map((id, n) => ({ id, payload: { n } }));
      earlyJobs.splice(POISON_AT, 0, { id: POISON, payload: { kill } });
      await publishAll(client, earlyJobs);

      const supervisor = new WarrenSupervisor({
        args: ['start', '--handlers', FIXTURE],
        env,
        nodeFlags: kill === 'heap' ? HEAP_FLAGS : [],
        // A crash loop that the delivery limit failed to stop ends here instead of running on.
        maxRuns: DELIVERY_LIMIT + 8,
      });
      cleanups.push(() => supervisor.stop());
      supervisor.start();
      await waitFor('the first crash', () => supervisor.exits.length >= 1, 30_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; stderr: ${supervisor.current?.stderr().slice(-1_000)}`, {
          cause: error,
        });
      });
      const firstCrashAt = Date.now();
      await publishAll(
        client,
        late.map((id, n) => ({ id, payload: { n: EARLY + n } })),
      );

      // Settled: every innocent job recorded and the poison dead-lettered; or, when something is wrong, nothing
      // moves any more (a started worker, no kill in progress, nothing ready, no new record for QUIET_MS).
      let seen = -1;
      let changedAt = Date.now();
      const settled = async (): Promise<boolean> => {
        const records = readRecords(recordFile);
        const done = new Set(records.filter((r) => r.event === 'done').map((r) => r.jobId));
        const ready = await queueDepth(jobQueue(namespace, JOB_TYPE));
        // Nothing ready either: a copy still queued (a crash between a deferral's confirm and its ack leaves two)
        // would be left behind by the stop below.
        const allDone = innocents.every((id) => done.has(id)) && ready === 0;
        if (allDone && (await queueDepth(deadQueue(namespace, JOB_TYPE))) >= 1) return true;
        if (supervisor.gaveUp) return true;
        const run = supervisor.current;
        const kills = records.filter((r) => r.event === 'kill').length;
        if (records.length !== seen || run?.startedAt === undefined || run.exit !== undefined || ready > 0) {
          seen = records.length;
          changedAt = Date.now();
          return false;
        }
        return kills === supervisor.exits.length && Date.now() - Math.max(changedAt, run.startedAt) >= QUIET_MS;
      };
      await waitFor('every innocent job handled and the poison dead-lettered', settled, 90_000, 250).catch(
        (error: unknown) => {
          throw new Error(
            `${(error as Error).message}; runs ${supervisor.runs.length}, exits ${JSON.stringify(supervisor.exits)}, ` +
              `records ${readRecords(recordFile).length}; stderr: ${supervisor.current?.stderr().slice(-1_000)}`,
            { cause: error },
          );
        },
      );
      const settledAt = Date.now();

      // The run that outlived the poison drains and exits 0 on SIGTERM.
      const lastExit = await supervisor.stop();
      const exits = supervisor.exits;
      const records = readRecords(recordFile);
      const peek = await runWarren(['dlq', 'peek', JOB_TYPE, '--json', '--limit', '1000'], env);
      expect(peek.code, peek.stderr).toBe(0);
      const dead = JSON.parse(peek.stdout) as PeekedDeadLetter[];
      const leftInQueue = await queueDepth(jobQueue(namespace, JOB_TYPE));

      const doneCount = new Map<string, number>();
      const firstDone = new Map<string, number>();
      for (const [index, record] of records.entries()) {
        if (record.event !== 'done') continue;
        doneCount.set(record.jobId, (doneCount.get(record.jobId) ?? 0) + 1);
        if (!firstDone.has(record.jobId)) firstDone.set(record.jobId, index);
      }
      const missing = innocents.filter((id) => !doneCount.has(id));
      const duplicated = innocents.filter((id) => (doneCount.get(id) ?? 0) > 1);
      const innocentDead = dead.filter((letter) => letter.messageId !== POISON);
      const poisonDead = dead.filter((letter) => letter.messageId === POISON);
      const kills = records.flatMap((record, index) => (record.event === 'kill' ? [{ ...record, index }] : []));
      const finalKill = kills.at(-1)?.index ?? -1;
      const lateAfterFinalKill = late.filter((id) => (firstDone.get(id) ?? Infinity) > finalKill);
      const crashedRuns = supervisor.runs.filter((run) => exits.length > run.index);
      const summary = {
        kill,
        concurrency,
        ms: Date.now() - began,
        msToSettle: settledAt - began,
        msFirstCrashToFinalKill: (kills.at(-1)?.at ?? firstCrashAt) - firstCrashAt,
        restarts: supervisor.restarts,
        exits,
        poisonKills: kills.map((k) => ({ attempt: k.attempt, deliveryCount: k.deliveryCount, suspect: k.suspect })),
        innocentsDone: innocents.length - missing.length,
        innocents: innocents.length,
        duplicates: duplicated.length,
        innocentDeadLetters: innocentDead.length,
        poisonDeadLetters: poisonDead.length,
        lateDoneAfterFinalKill: lateAfterFinalKill.length,
        leftInQueue,
      };

      console.log(`crash-attribution ${JSON.stringify(summary)}`);

      // Only the poison job is dead-lettered: none of the jobs that ran beside it when it killed the worker.
      expect
        .soft(innocentDead.length, `innocent jobs in the dead-letter queue: ${few(innocentDead.map(describeLetter))}`)
        .toBe(0);
      // The poison is, exactly once, for running out of deliveries: by the broker, or by warren when its last
      // delivery was a deferred copy (whose returns warren counts: a copy starts a new broker count).
      expect
        .soft(poisonDead.map(({ messageId, reason }) => ({ messageId, reason })))
        .toEqual([{ messageId: POISON, reason: 'delivery_limit' }]);
      expect.soft(['broker', 'warren']).toContain(poisonDead[0]?.source);
      // Nothing lost: every innocent job completed (at least once) and nothing is left behind.
      expect.soft(missing.length, `innocent jobs never completed: ${few(missing)}`).toBe(0);
      expect.soft(leftInQueue, 'messages left in the job queue').toBe(0);
      // Each restart was the poison's doing: every run that crashed recorded one kill, nothing else killed it
      // (a worker that cannot live in the case's heap, a crash of warren's own).
      expect
        .soft(
          crashedRuns.map((run) => kills.filter((k) => k.pid === run.pid).length),
          'poison kills per crashed run',
        )
        .toEqual(crashedRuns.map(() => 1));
      // The broker dead-letters a message on its return past the delivery limit: a job that kills every delivery
      // takes DELIVERY_LIMIT + 1 crashes. One more is allowed: the first crash happens before anything is
      // suspect, and a suspect deferred by a copy (a new message) starts its delivery count afresh. More would
      // mean crashes charged to no one, or a poison that goes round more than once.
      expect.soft(exits.length, `crashes (exits ${JSON.stringify(exits)})`).toBeLessThanOrEqual(DELIVERY_LIMIT + 2);
      // The healthy flow keeps moving while the suspect is isolated: what was published after the first crash
      // has run before the poison's last delivery (the one that sends it to the dead-letter queue).
      expect
        .soft(
          lateAfterFinalKill.length,
          `late jobs completed only after the poison's final kill: ${few(lateAfterFinalKill)}`,
        )
        .toBe(0);
      expect.soft(lastExit, 'exit of the run that outlived the poison, on SIGTERM').toBe(0);
    },
    150_000,
  );
});
