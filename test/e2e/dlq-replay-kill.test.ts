import { afterEach, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue } from 'warren';
import { DEFAULT_MAX_UNCONFIRMED } from '../../src/dlq/dead-letter-replay.js';
import { deleteNamespace, queueDepth, uniqueNamespace } from '../helpers/broker.js';
import { crashingReplayEntry, runWarren, spawnWarren } from '../helpers/cli.js';
import { countIds, drainQueue, fillDeadLetters, readIds, waitUntilUnconsumed } from '../helpers/dlq-dead-letters.js';

const JOB = 'dlq.replay';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(count: number): Promise<{ namespace: string; env: Record<string, string>; ids: string[] }> {
  const namespace = uniqueNamespace('e2e');
  cleanups.push(() => deleteNamespace(namespace, [JOB]));
  const ids = await fillDeadLetters(namespace, [JOB], count);
  return { namespace, env: { WARREN_NAMESPACE: namespace }, ids };
}

/**
 * Takes every copy from the job queue (nothing consumes it here) and checks the promise by message id: every dead
 * letter reached the job queue at least once, none is left in the dead-letter queue, and what repeated is within
 * the bound: at most the dead letters each killed replay held (its prefetch, `DEFAULT_MAX_UNCONFIRMED`), once more
 * each. Resolves with the number of ids the job queue holds more than once.
 */
async function expectNoneLost(namespace: string, ids: readonly string[], kills: number): Promise<number> {
  const copies = countIds(await drainQueue(jobQueue(namespace, JOB)));
  // One assertion, so that a lost dead letter shows where it is not: not in the job queue, and still (or no longer)
  // in the dead-letter queue.
  expect({
    missing: ids.filter((id) => !copies.has(id)),
    unexpected: [...copies.keys()].filter((id) => !ids.includes(id)),
    deadLetters: await queueDepth(deadQueue(namespace, JOB)),
  }).toEqual({ missing: [], unexpected: [], deadLetters: 0 });
  const repeated = [...copies].filter(([, times]) => times > 1);
  expect(repeated.length, 'dead letters in the job queue more than once').toBeLessThanOrEqual(
    DEFAULT_MAX_UNCONFIRMED * kills,
  );
  expect(Math.max(...copies.values()), 'most copies of one dead letter').toBeLessThanOrEqual(1 + kills);
  return repeated.length;
}

describe('warren dlq replay loses nothing across a kill', () => {
  it('killed between a confirm and its ack (fault injection): the rerun sends that dead letter again, none is lost', async () => {
    const { namespace, env, ids } = await setUp(400);
    // The CLI with a hook injected: the process SIGKILLs itself right after the 150th confirm, before that ack.
    const killed = await runWarren(['dlq', 'replay', JOB], env, { entry: crashingReplayEntry(150) });
    expect(killed.code, killed.stderr).toBe('SIGKILL');
    expect(killed.stderr).toMatch(/replayed \d+\/400/);
    await waitUntilUnconsumed(deadQueue(namespace, JOB));
    // The 150th is still a dead letter, and its copy is already in the job queue (read, not taken).
    const left = await readIds(deadQueue(namespace, JOB));
    const sent = await readIds(jobQueue(namespace, JOB));
    expect(left.size).toBeGreaterThanOrEqual(400 - 149);
    expect([...left.keys()].filter((id) => sent.has(id)).length).toBeGreaterThanOrEqual(1);

    const rerun = await runWarren(['dlq', 'replay', JOB, '--json'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ total: left.size, replayed: left.size, remaining: 0, indeterminate: 0 });
    expect(summary).not.toHaveProperty('failure');

    const duplicates = await expectNoneLost(namespace, ids, 1);
    expect(duplicates).toBeGreaterThanOrEqual(1);
  });

  it('SIGKILL from outside at random points, twice: the third run completes it, none lost, repeats bounded', async () => {
    const { namespace, env, ids } = await setUp(3_000);
    const kills: string[] = [];
    let landed = 0;
    for (let run = 0; run < 2 && (await queueDepth(deadQueue(namespace, JOB))) > 0; run += 1) {
      const replay = spawnWarren(['dlq', 'replay', JOB], env);
      cleanups.push(async () => {
        if (replay.child.exitCode === null) replay.child.kill('SIGKILL');
        await replay.exited;
      });
      // A random point: right after the nth of its ten progress lines (n = 1..9), plus 0-20 ms. A replay runs
      // thousands of dead letters a second, so the kill is sent from the output listener itself, not by polling.
      const line = 1 + Math.floor(Math.random() * 9);
      const jitterMs = Math.floor(Math.random() * 21);
      let lines = 0;
      replay.child.stderr?.on('data', (chunk: Buffer) => {
        const before = lines;
        lines += chunk.toString().match(/^replayed \d+\/\d+$/gm)?.length ?? 0;
        if (before < line && lines >= line) setTimeout(() => replay.child.kill('SIGKILL'), jitterMs);
      });
      const exit = await replay.exited;
      const progress = [...replay.stderr().matchAll(/replayed (\d+)\/(\d+)/g)].at(-1);
      if (exit === 'SIGKILL') landed += 1;
      kills.push(
        `${String(exit)} at line ${line} + ${jitterMs} ms (last progress ${progress?.[1] ?? '?'}/${progress?.[2] ?? '?'})`,
      );
      await waitUntilUnconsumed(deadQueue(namespace, JOB));
    }
    const left = await queueDepth(deadQueue(namespace, JOB));

    const rerun = await runWarren(['dlq', 'replay', JOB], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/; 0 left in /);
    const duplicates = await expectNoneLost(namespace, ids, landed);
    // One line per test, for loops that count the outcomes.
    console.log(`replay kill test: ${kills.join('; ')}; ${left} left for the last run; ${duplicates} duplicated`);
  });
});
