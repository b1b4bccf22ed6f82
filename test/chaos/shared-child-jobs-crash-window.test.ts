import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue, WarrenClient } from 'warren';
import { deleteTopology, namespaceExchanges, namespaceQueues } from '../../src/testing/clean-test-namespace.js';
import { SUMMARY_KEY, type ChildJobsRecord } from '../fixtures/child-jobs-handlers.js';
import { memoryLogger, queueDepth, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { logLines, runWarren } from '../helpers/cli.js';
import { deleteRedisNamespace, SHARED_REDIS_URL } from '../helpers/redis-server.js';
import { requireSharedBroker, sharedBrokers } from '../helpers/shared-brokers.js';
import { WarrenSupervisor, type SupervisedRun } from '../helpers/supervisor.js';

// A worker killed between its child jobs' confirms and its parent's ack (the crash window) loses nothing and runs
// each child once: the parent comes back and runs again, publishes the same child ids, and the copies already sent
// are acked as duplicates. The fault is injected at the library boundary: a preload patches amqplib's Channel#ack
// so that the first ack of the parent SIGKILLs the process before the ack is written.
//
// The killed worker serves the parent only: the children it confirmed stay in their queue, where the test counts
// them before the second worker starts (had it served them too, it could run one and die before recording it done,
// which is at-least-once delivery, not this window). The second worker serves both job types, without the fault.
// The shared brokers (3.10 and 4.0) with a namespace of the test's own: killing a worker does not break a broker.
// About 5 s a case, most of it three node processes starting (the topology, then each worker).

const PARENT = 'crash.parent';
const CHILD = 'crash.child';
const JOB_TYPES = [PARENT, CHILD];
const FIXTURE = 'test/fixtures/child-jobs-handlers.ts';
const PRELOAD = new URL('../fixtures/kill-at-parent-ack.js', import.meta.url).href;
const PARENT_ID = 'crash-window-parent';
/** The ids the children get on every attempt: `<parent id>/<position>` and `<parent id>/<key>`. */
const CHILD_IDS = [`${PARENT_ID}/1`, `${PARENT_ID}/${SUMMARY_KEY}`];
const DUPLICATE_LOG = 'duplicate of a job that already succeeded; acked without running';

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

function readRecords(file: string): ChildJobsRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ChildJobsRecord);
}

/** How many times each value occurs, as a plain object (compared with `toEqual`, it names the value at fault). */
function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** The job ids a run logged as duplicates (acked without running), in order. */
function duplicatesLogged(run: SupervisedRun | undefined): string[] {
  return logLines(run?.stdout() ?? '')
    .filter((line) => line['msg'] === DUPLICATE_LOG)
    .map((line) => String(line['jobId']));
}

describe.each(sharedBrokers().map((broker) => [broker.version, broker] as const))(
  'child jobs across a crash in their window (RabbitMQ %s)',
  (_version, broker) => {
    it('a worker killed after its children are confirmed and before its ack: the parent runs again, each child runs once and is delivered twice, nothing is left', async () => {
      // In the test, not a hook: a broker that is missing or of another version fails the case, never skips it.
      await requireSharedBroker(broker);
      const { url } = broker;
      const namespace = uniqueNamespace('crashwin');
      cleanups.push(() => deleteRedisNamespace(namespace));
      cleanups.push(async () => {
        const failed = await deleteTopology(url, namespaceQueues(namespace, JOB_TYPES), namespaceExchanges(namespace));
        if (failed.length > 0) throw new AggregateError(failed, `namespace ${namespace} not fully deleted`);
      });
      const dir = mkdtempSync(join(tmpdir(), 'warren-crash-window-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const recordFile = join(dir, 'record.jsonl');
      const marker = join(dir, 'killed.json');
      const env = {
        WARREN_AMQP_URL: url,
        WARREN_NAMESPACE: namespace,
        // De-duplication of the children (by message id) lives in Redis.
        WARREN_REDIS_URL: SHARED_REDIS_URL,
        WARREN_LOG_LEVEL: 'info',
        WARREN_SHUTDOWN_GRACE_MS: '2s',
        WARREN_SCHEDULES: 'test/fixtures/schedule-none.json',
        CHILD_JOBS_RECORD: recordFile,
      };
      const queue = {
        parent: jobQueue(namespace, PARENT),
        child: jobQueue(namespace, CHILD),
        parentDead: deadQueue(namespace, PARENT),
        childDead: deadQueue(namespace, CHILD),
      };
      const depth = (name: string): Promise<number> => queueDepth(name, url);

      // Both job queues exist before the worker that serves the parent alone starts: its children are routable.
      const topology = await runWarren(['topology', '--apply', '--handlers', FIXTURE], env);
      expect(topology.code, topology.stderr).toBe(0);

      // Worker A: the parent only, with the fault.
      const workerA = new WarrenSupervisor({
        args: ['start', '--handlers', FIXTURE],
        env: { ...env, CHILD_JOBS_SERVE: PARENT, KILL_AT_PARENT_ACK_MARKER: marker },
        nodeFlags: ['--import', PRELOAD],
        maxRuns: 1,
      });
      cleanups.push(() => workerA.stop());
      workerA.start();
      const runA = await workerA.waitForStarted();

      const client = new WarrenClient({
        config: testConfig({ namespace, amqpUrl: url }),
        logger: memoryLogger('warn').logger,
      });
      cleanups.push(() => client.close());
      await client.start();
      await client.publish(PARENT, { n: 1 }, { messageId: PARENT_ID });

      await waitFor('worker A to die at the parent’s ack', () => runA.exit !== undefined, 20_000).catch(
        (error: unknown) => {
          throw new Error(
            `${(error as Error).message}; records ${JSON.stringify(readRecords(recordFile))}; ` +
              `stderr: ${runA.stderr().slice(-1_000)}`,
            { cause: error },
          );
        },
      );
      expect(runA.exit, `worker A's exit; stderr: ${runA.stderr().slice(-1_000)}`).toBe('SIGKILL');
      const killed = JSON.parse(readFileSync(marker, 'utf8')) as { pid: number; messageId: string };
      expect(killed).toMatchObject({ pid: runA.pid, messageId: PARENT_ID });

      // The broker has the parent back (never acknowledged) once it has seen A's connection go; by then the children
      // A confirmed are in their queue: both, before any second run of the parent.
      await waitFor('the parent back in its queue', async () => (await depth(queue.parent)) === 1, 15_000, 100);
      const childrenLeftByA = await depth(queue.child);
      expect.soft(childrenLeftByA, 'children in their queue after the kill (confirmed before the ack)').toBe(2);

      // Worker B: both job types, no fault.
      const workerB = new WarrenSupervisor({ args: ['start', '--handlers', FIXTURE], env, maxRuns: 1 });
      cleanups.push(() => workerB.stop());
      workerB.start();
      const runB = await workerB.waitForStarted();

      // Settled when B has taken every child copy there is: those A left plus those its own run of the parent sent.
      // Counted whatever the outcome, so that a broken window (no copy left, or copies under other ids) shows in the
      // assertions below, not as a timeout.
      const inB = (records: readonly ChildJobsRecord[], job: ChildJobsRecord['job']): ChildJobsRecord[] =>
        records.filter((record) => record.job === job && record.pid === runB.pid);
      await waitFor(
        'worker B to run the parent and take every child copy',
        () => {
          const records = readRecords(recordFile);
          const parentRuns = inB(records, 'parent');
          const sentByB = parentRuns.reduce((n, run) => n + (run.children?.length ?? 0), 0);
          const childCopiesTaken = inB(records, 'child').length + duplicatesLogged(workerB.current).length;
          return parentRuns.length >= 1 && childCopiesTaken >= childrenLeftByA + sentByB;
        },
        20_000,
        100,
      ).catch((error: unknown) => {
        throw new Error(
          `${(error as Error).message}; records ${JSON.stringify(readRecords(recordFile))}; ` +
            `duplicates ${JSON.stringify(duplicatesLogged(runB))}; stderr: ${runB.stderr().slice(-1_000)}`,
          { cause: error },
        );
      });
      // Drains: whatever B holds is settled before it exits.
      expect(await workerB.stop(), `worker B's exit on SIGTERM; stderr: ${runB.stderr().slice(-1_000)}`).toBe(0);

      const records = readRecords(recordFile);
      const parentRuns = records.filter((record) => record.job === 'parent');
      const childRuns = records.filter((record) => record.job === 'child');
      const duplicates = duplicatesLogged(runB);
      const left = {
        [queue.parent]: await depth(queue.parent),
        [queue.child]: await depth(queue.child),
        [queue.parentDead]: await depth(queue.parentDead),
        [queue.childDead]: await depth(queue.childDead),
      };
      process.stderr.write(
        `crash window ${broker.version}: parent attempts ${JSON.stringify(parentRuns.map((run) => run.attempt))}, ` +
          `${childrenLeftByA} children left by the killed worker, child runs ${JSON.stringify(countBy(childRuns.map((run) => run.jobId)))}, ` +
          `duplicates ${JSON.stringify(countBy(duplicates))}, left ${JSON.stringify(left)}\n`,
      );

      // The parent ran twice: in A (killed at its ack) and, redelivered, in B; both runs gave the same child ids.
      expect(parentRuns.map(({ jobId, attempt, pid, children }) => ({ jobId, attempt, pid, children }))).toEqual([
        { jobId: PARENT_ID, attempt: 1, pid: runA.pid, children: CHILD_IDS },
        { jobId: PARENT_ID, attempt: 2, pid: runB.pid, children: CHILD_IDS },
      ]);
      // Each child ran exactly once, in B.
      expect(countBy(childRuns.map((run) => `${run.jobId} in ${run.pid === runB.pid ? 'B' : run.pid}`))).toEqual(
        Object.fromEntries(CHILD_IDS.map((id) => [`${id} in B`, 1])),
      );
      // Each child id was delivered twice: the copy A confirmed before its kill, and the one B's run sent, which B
      // acked as a duplicate without running it. Children sent after the ack would leave one delivery per id.
      expect(countBy(duplicates)).toEqual(Object.fromEntries(CHILD_IDS.map((id) => [id, 1])));
      // Nothing left: no job waiting, none dead-lettered.
      expect(left).toEqual({ [queue.parent]: 0, [queue.child]: 0, [queue.parentDead]: 0, [queue.childDead]: 0 });
    }, 60_000);
  },
);
