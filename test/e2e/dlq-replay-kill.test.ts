import { afterEach, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue } from 'warren';
import { replayLedgerQueue } from '../../src/topology/names.js';
import { deleteNamespace, queueDepth, uniqueNamespace } from '../helpers/broker.js';
import { crashingReplayEntry, runWarren, spawnWarren } from '../helpers/cli.js';
import { drainQueue, fillDeadLetters, waitUntilUnconsumed } from '../helpers/dlq-dead-letters.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(count: number): Promise<{ namespace: string; env: Record<string, string>; ids: string[] }> {
  const namespace = uniqueNamespace('e2e');
  cleanups.push(() => deleteNamespace(namespace, ['dlq.replay']));
  const ids = await fillDeadLetters(namespace, ['dlq.replay'], count);
  return { namespace, env: { WARREN_NAMESPACE: namespace }, ids };
}

/** Every message in the job queue (nothing consumes it here), checked to hold each id exactly once. */
async function expectEachExactlyOnce(namespace: string, ids: readonly string[]): Promise<void> {
  const copies = await drainQueue(jobQueue(namespace, 'dlq.replay'));
  const seen = new Map<string, number>();
  for (const copy of copies)
    seen.set(String(copy.properties.messageId), (seen.get(String(copy.properties.messageId)) ?? 0) + 1);
  const duplicated = [...seen].filter(([, times]) => times > 1).map(([id]) => id);
  expect(duplicated, 'republished more than once').toEqual([]);
  // All in one assertion, so that a lost dead letter shows where it is not: not republished, and still (or no
  // longer) in the dead-letter queue or the ledger.
  const missing = ids.filter((id) => !seen.has(id));
  const unexpected = [...seen.keys()].filter((id) => !ids.includes(id));
  const left = {
    missing,
    unexpected,
    deadLetters: await queueDepth(deadQueue(namespace, 'dlq.replay')),
    ledger: await queueDepth(replayLedgerQueue(namespace, 'dlq.replay')),
  };
  expect(left).toEqual({ missing: [], unexpected: [], deadLetters: 0, ledger: 0 });
  expect(copies).toHaveLength(ids.length);
}

describe('warren dlq replay is exactly once across a kill', () => {
  it('killed between a confirm and its ack (fault injection): the rerun skips what was sent, sends the rest once', async () => {
    const { namespace, env, ids } = await setUp(400);
    // The CLI with a hook injected: the process SIGKILLs itself right after the 150th confirm, before that ack.
    const killed = await runWarren(['dlq', 'replay', 'dlq.replay'], env, { entry: crashingReplayEntry(150) });
    expect(killed.code, killed.stderr).toBe('SIGKILL');
    expect(killed.stderr).toMatch(/replayed \d+\/400/);
    await waitUntilUnconsumed(deadQueue(namespace, 'dlq.replay'));
    const left = await queueDepth(deadQueue(namespace, 'dlq.replay'));
    expect(left).toBeGreaterThanOrEqual(400 - 149); // at least the 150th is still there, its copy already sent
    expect(await queueDepth(replayLedgerQueue(namespace, 'dlq.replay'))).toBeGreaterThanOrEqual(150);

    const rerun = await runWarren(['dlq', 'replay', 'dlq.replay', '--json'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as {
      replayed: number;
      skipped: number;
      remaining: number;
      total: number;
      ledger: string;
    };
    // Without the ledger, the 150th dead letter would be sent a second time; with it, the rerun recognises it.
    expect(summary.skipped).toBeGreaterThanOrEqual(1);
    expect(summary).toMatchObject({ total: left, remaining: 0, ledger: 'purged' });
    expect(summary.replayed + summary.skipped).toBe(left);
    expect(rerun.stderr).toMatch(/already replayed earlier/);

    await expectEachExactlyOnce(namespace, ids);
  });

  it('SIGKILL from outside halfway through: the rerun completes it, each dead letter republished once', async () => {
    const { namespace, env, ids } = await setUp(3_000);
    const first = spawnWarren(['dlq', 'replay', 'dlq.replay'], env);
    cleanups.push(async () => {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
      await first.exited;
    });
    await first.waitForOutput(/replayed \d+\/3000/);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await waitUntilUnconsumed(deadQueue(namespace, 'dlq.replay'));
    expect(await queueDepth(deadQueue(namespace, 'dlq.replay'))).toBeGreaterThan(0);

    const rerun = await runWarren(['dlq', 'replay', 'dlq.replay'], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/; 0 left in /);

    await expectEachExactlyOnce(namespace, ids);
  });
});
