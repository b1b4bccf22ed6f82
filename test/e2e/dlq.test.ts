import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, deadQueue, jobQueue } from 'warren';
import { legacyReplayLedgerQueue } from '../../src/topology/names.js';
import { deadLetterLimitPolicy } from '../../src/topology/topology-plan.js';
import { deleteNamespace, queueDepth, rawConnection, uniqueNamespace } from '../helpers/broker.js';
import { runWarren } from '../helpers/cli.js';
import { countIds, drainQueue, fillDeadLetters, limitQueueLength, readIds } from '../helpers/dlq-dead-letters.js';

const HANDLERS = 'test/fixtures/dlq-handlers.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A namespace where only `dlq.replay` is declared, holding `count` dead letters. */
async function namespaceWithDeadLetters(
  count: number,
): Promise<{ namespace: string; env: Record<string, string>; ids: string[] }> {
  const namespace = uniqueNamespace('e2e');
  cleanups.push(() => deleteNamespace(namespace, ['dlq.replay', 'dlq.other']));
  const ids = await fillDeadLetters(namespace, ['dlq.replay'], count);
  return { namespace, env: { WARREN_NAMESPACE: namespace }, ids };
}

describe('warren dlq', () => {
  it('--help on dlq and each subcommand', async () => {
    for (const args of [
      ['dlq', '--help'],
      ...['list', 'peek', 'replay', 'purge'].map((sub) => ['dlq', sub, '--help']),
    ]) {
      const result = await runWarren(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/^Usage: warren dlq/);
    }
  });

  it('list: every registered job type, as a table and as JSON; a queue not declared counts 0', async () => {
    const { namespace, env } = await namespaceWithDeadLetters(3);
    const json = await runWarren(['dlq', 'list', '--handlers', HANDLERS, '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { jobType: 'dlq.replay', queue: deadQueue(namespace, 'dlq.replay'), messages: 3, declared: true },
      { jobType: 'dlq.other', queue: deadQueue(namespace, 'dlq.other'), messages: 0, declared: false },
    ]);
    const table = await runWarren(['dlq', 'list', '--handlers', HANDLERS], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^JOB TYPE +DEAD-LETTER QUEUE +MESSAGES\n/);
    expect(table.stdout).toMatch(new RegExp(`dlq\\.replay +${namespace}\\.dead\\.dlq\\.replay +3\\n`));
    expect(table.stdout).toMatch(/dlq\.other .* 0 \(not declared\)\n/);
  });

  it('peek --json: full context, body and stack; the dead letters stay', async () => {
    const { namespace, env } = await namespaceWithDeadLetters(3);
    const result = await runWarren(['dlq', 'peek', 'dlq.replay', '--limit', '2', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const peeked = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(peeked).toHaveLength(2);
    expect(peeked[0]).toMatchObject({
      messageId: expect.stringMatching(/^dl-\d$/),
      reason: 'exhausted',
      attempts: 3,
      errorName: 'TypeError',
      errorMessage: expect.stringMatching(/^boom \d$/),
      errorStack: expect.stringContaining('TypeError: boom'),
      originalQueue: jobQueue(namespace, 'dlq.replay'),
      originalRoutingKey: 'dlq.replay',
      workerHost: 'worker-1',
      workerPid: 4242,
      body: expect.stringMatching(/^\{"n":\d\}$/),
    });
    expect(await queueDepth(deadQueue(namespace, 'dlq.replay'))).toBe(3);

    const human = await runWarren(['dlq', 'peek', 'dlq.replay'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^#1 {2}dl-\d {2}exhausted, 3 attempts\n {2}error: +TypeError: boom \d\n/);
    expect(human.stdout).toContain(`3 dead letters shown, all still in ${deadQueue(namespace, 'dlq.replay')}`);
  });

  it('30 peeks and a list leave the 5 dead letters as they were: same ids, same headers, same order', async () => {
    const { namespace, env, ids } = await namespaceWithDeadLetters(5);
    const queue = deadQueue(namespace, 'dlq.replay');
    // The first 2 of 5, 30 times: a queue that put what is given back at its end (RabbitMQ 3.x without a delivery
    // limit) would show others from the second peek on; one with 4.0's default limit of 20 would lose these 2.
    let first: unknown;
    for (let n = 1; n <= 30; n += 1) {
      const peek = await runWarren(['dlq', 'peek', 'dlq.replay', '--limit', '2', '--json'], env);
      expect(peek.code, peek.stderr).toBe(0);
      expect(peek.stderr, 'no warning about the queue').toBe('');
      const shown = JSON.parse(peek.stdout) as Array<Record<string, unknown>>;
      if (n === 1) {
        expect(shown.map((c) => c.messageId)).toEqual(ids.slice(0, 2));
        first = shown;
      } else expect(shown, `peek ${n}`).toEqual(first);
    }
    const list = await runWarren(['dlq', 'list', '--handlers', HANDLERS, '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toContainEqual({ jobType: 'dlq.replay', queue, messages: 5, declared: true });
    const all = await runWarren(['dlq', 'peek', 'dlq.replay', '--json'], env);
    const before = JSON.parse(all.stdout) as Array<Record<string, unknown>>;
    expect(before.map((c) => c.messageId)).toEqual(ids);
    expect(before.slice(0, 2)).toEqual(first);

    const left = await drainQueue(queue);
    expect(left.map((m) => m.properties.messageId)).toEqual(ids);
    for (const [n, message] of left.entries()) {
      // Every header as fillDeadLetters published it; only the broker's own count of returns may have moved.
      const { 'x-delivery-count': _returns, ...headers } = message.properties.headers ?? {};
      expect(headers).toEqual({
        [HEADERS.reason]: 'exhausted',
        [HEADERS.attempt]: 3,
        [HEADERS.errorName]: 'TypeError',
        [HEADERS.errorMessage]: `boom ${n}`,
        [HEADERS.errorStack]: `TypeError: boom ${n}\n    at handler`,
        [HEADERS.firstFailureAt]: before[n]?.firstFailureAt,
        [HEADERS.lastFailureAt]: before[n]?.lastFailureAt,
        [HEADERS.originalQueue]: jobQueue(namespace, 'dlq.replay'),
        [HEADERS.originalRoutingKey]: 'dlq.replay',
        [HEADERS.workerHost]: 'worker-1',
        [HEADERS.workerPid]: 4242,
        'x-app-tag': 'kept',
      });
      expect(JSON.parse(message.content.toString())).toEqual({ n });
    }
  });

  it('peek of a dead-letter queue an earlier warren declared shows it and names the fix on stderr', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['dlq.replay']));
    const queue = deadQueue(namespace, 'dlq.replay');
    const connection = await rawConnection();
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      channel.sendToQueue(queue, Buffer.from('{}'), { messageId: 'old-1', persistent: true });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    const peek = await runWarren(['dlq', 'peek', 'dlq.replay', '--json'], { WARREN_NAMESPACE: namespace });
    expect(peek.code, peek.stderr).toBe(0);
    expect((JSON.parse(peek.stdout) as Array<{ messageId: string }>).map((c) => c.messageId)).toEqual(['old-1']);
    expect(peek.stderr).toMatch(
      new RegExp(`^warren: ${queue.replace(/[.]/g, '\\.')} was declared by an earlier warren without x-delivery-limit`),
    );
    expect(peek.stderr).toContain(deadLetterLimitPolicy(namespace).command);
    expect(await queueDepth(queue)).toBe(1);
  });

  it('options work before, between and after the arguments of each subcommand; dlq itself takes none', async () => {
    const { namespace, env } = await namespaceWithDeadLetters(3);
    const [listA, listB, groupOption] = await Promise.all([
      runWarren(['dlq', 'list', '--json', '--handlers', HANDLERS], env),
      runWarren(['dlq', 'list', '--handlers', HANDLERS, '--json'], env),
      runWarren(['dlq', '--json', 'list', '--handlers', HANDLERS], env),
    ]);
    // One at a time: a peek holds what it reads until it gives it back, so a concurrent one would see less.
    const peekA = await runWarren(['dlq', 'peek', '--limit', '2', '--json', 'dlq.replay'], env);
    const peekB = await runWarren(['dlq', 'peek', '--json', 'dlq.replay', '--limit', '2'], env);
    const peekC = await runWarren(['dlq', 'peek', 'dlq.replay', '--json', '--limit', '2'], env);
    const dryA = await runWarren(['dlq', 'replay', '--dry-run', '--limit', '1', '--json', 'dlq.replay'], env);
    const dryB = await runWarren(['dlq', 'replay', 'dlq.replay', '--json', '--limit', '1', '--dry-run'], env);
    for (const list of [listA, listB]) {
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as Array<{ jobType: string }>).map((s) => s.jobType)).toEqual([
        'dlq.replay',
        'dlq.other',
      ]);
    }
    for (const peek of [peekA, peekB, peekC]) {
      expect(peek.code, peek.stderr).toBe(0);
      expect(JSON.parse(peek.stdout)).toHaveLength(2);
    }
    for (const dry of [dryA, dryB]) {
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ jobType: 'dlq.replay', entries: [expect.anything()] });
    }
    expect(groupOption.code).not.toBe(0);
    expect(groupOption.stderr).toMatch(/unknown option '--json'/);

    const [purgeFirst, purgeLast] = [
      await runWarren(['dlq', 'purge', '--yes', '--json', 'dlq.replay'], env),
      await runWarren(['dlq', 'purge', 'dlq.replay', '--json', '--yes'], env),
    ];
    expect(JSON.parse(purgeFirst.stdout)).toEqual({
      jobType: 'dlq.replay',
      queue: deadQueue(namespace, 'dlq.replay'),
      purged: 3,
    });
    expect(purgeLast.code, purgeLast.stderr).toBe(0);
    expect(JSON.parse(purgeLast.stdout)).toMatchObject({ purged: 0 });
  });

  it('purge refuses without --yes, telling the count; with --yes removes them', async () => {
    const { namespace, env } = await namespaceWithDeadLetters(4);
    const refused = await runWarren(['dlq', 'purge', 'dlq.replay'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `warren: ${deadQueue(namespace, 'dlq.replay')} holds 4 dead letters of "dlq.replay"; nothing was deleted. Run again with --yes to delete them\n`,
    );
    expect(await queueDepth(deadQueue(namespace, 'dlq.replay'))).toBe(4);
    const purged = await runWarren(['dlq', 'purge', 'dlq.replay', '--yes'], env);
    expect(purged).toMatchObject({
      code: 0,
      stdout: `purged 4 dead letters of "dlq.replay" from ${deadQueue(namespace, 'dlq.replay')}\n`,
    });
    expect(await queueDepth(deadQueue(namespace, 'dlq.replay'))).toBe(0);
  });

  it('replay: progress on stderr, the summary on stdout; --dry-run changes nothing', async () => {
    const { namespace, env, ids } = await namespaceWithDeadLetters(20);
    const dry = await runWarren(['dlq', 'replay', 'dlq.replay', '--dry-run', '--limit', '5'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /^dry run: would replay 5 dead letters of "dlq\.replay" to .* \(20 in .*\); nothing was changed\n/,
    );
    expect(dry.stdout.match(/^ {2}dl-\d+ {2}exhausted {2}\d{4}-/gm)).toHaveLength(5);
    expect(await queueDepth(deadQueue(namespace, 'dlq.replay'))).toBe(20);

    const result = await runWarren(['dlq', 'replay', 'dlq.replay'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^replayed 2\/20\n/);
    expect(result.stderr).toMatch(/replayed 20\/20\n$/);
    expect(result.stdout).toBe(
      `replayed 20 dead letters of "dlq.replay" to ${jobQueue(namespace, 'dlq.replay')}; 0 left in ${deadQueue(namespace, 'dlq.replay')}\n`,
    );
    const copies = await drainQueue(jobQueue(namespace, 'dlq.replay'));
    expect(copies.map((m) => m.properties.messageId).sort()).toEqual([...ids].sort());
  });

  it('replay --id: only those dead letters; an id not found is named and exits 1; not with --limit', async () => {
    const { namespace, env } = await namespaceWithDeadLetters(6);
    const result = await runWarren(['dlq', 'replay', 'dlq.replay', '--id', 'dl-4', '--id', 'dl-1'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      `replayed 2 dead letters of "dlq.replay" to ${jobQueue(namespace, 'dlq.replay')}; 4 left in ${deadQueue(namespace, 'dlq.replay')}\n`,
    );
    const copies = await drainQueue(jobQueue(namespace, 'dlq.replay'));
    expect(copies.map((m) => m.properties.messageId).sort()).toEqual(['dl-1', 'dl-4']);

    const missing = await runWarren(['dlq', 'replay', 'dlq.replay', '--id', 'dl-1', '--json'], env);
    expect(missing.code, missing.stderr).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ replayed: 0, remaining: 4, notFound: ['dl-1'] });

    const both = await runWarren(['dlq', 'replay', 'dlq.replay', '--id', 'dl-0', '--limit', '1'], env);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/option '--id <messageId>' cannot be used with option '--limit <n>'/);
  });

  it('replay into a job queue at its length limit: says why on stderr, counts it, exits 1; the rest stays', async () => {
    const { namespace, env, ids } = await namespaceWithDeadLetters(200);
    const queue = jobQueue(namespace, 'dlq.replay');
    const dead = deadQueue(namespace, 'dlq.replay');
    cleanups.push(await limitQueueLength(queue, 50));
    // An empty ledger an earlier version left: deleted, and said so.
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createChannel();
    await channel.assertQueue(legacyReplayLedgerQueue(namespace, 'dlq.replay'), {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });

    const result = await runWarren(['dlq', 'replay', 'dlq.replay'], env);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(
      `warren: deleted ${legacyReplayLedgerQueue(namespace, 'dlq.replay')}, the empty replay ledger of an earlier warren version\n`,
    );
    expect(result.stderr).toMatch(
      new RegExp(
        `\\nwarren: the replay stopped: RabbitMQ refused the copy of dead letter dl-\\d+ of "dlq\\.replay" \\(basic\\.nack\\): ` +
          `${queue.replace(/\./g, '\\.')} is most likely at its length limit .*; the dead letter stays in .*; ` +
          `${queue.replace(/\./g, '\\.')} holds \\d+ messages\\n$`,
      ),
    );
    const summary =
      /^replayed (\d+) dead letters of "dlq\.replay" to \S+; (\d+) refused by RabbitMQ; (\d+) left in \S+ \(stopped at the first failure\)\n$/.exec(
        result.stdout,
      );
    expect(summary, result.stdout).not.toBeNull();
    const [, replayed = '', , left = ''] = summary ?? [];
    expect(Number(replayed) + Number(left)).toBe(200);

    // Again, with the job queue still full: refused at once.
    const json = await runWarren(['dlq', 'replay', 'dlq.replay', '--json'], env);
    expect(json.code).toBe(1);
    const again = JSON.parse(json.stdout) as { replayed: number; rejected: number; remaining: number };
    expect(again).toMatchObject({ failure: { code: 'WARREN_ERR_PUBLISH_REJECTED' }, indeterminate: 0 });
    expect(again.rejected).toBeGreaterThanOrEqual(1);

    // By id: the copies and the dead letters left split the 200 between them.
    const copies = countIds(await drainQueue(queue));
    const remaining = await readIds(dead);
    expect(copies.size).toBe(Number(replayed) + again.replayed);
    expect(remaining.size).toBe(again.remaining);
    expect([...copies.keys(), ...remaining.keys()].sort()).toEqual([...ids].sort());
  });

  it('refuses a job type that is not valid before connecting', async () => {
    // Nothing listens here: a check made after connecting would end in a connection error instead.
    const env = { WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9' };
    const results = await Promise.all(
      [['peek'], ['replay', '--dry-run'], ['replay'], ['purge', '--yes']].map((args) =>
        runWarren(['dlq', ...args, 'email send'], env),
      ),
    );
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'warren: job type "email send" is not valid: use letters, digits, "-" and "_" in dot-separated words, at most 150 characters (it is the routing key)\n',
      );
    }
  });

  it('names the job type when its dead-letter queue does not exist', async () => {
    const env = { WARREN_NAMESPACE: uniqueNamespace('e2e') };
    for (const args of [
      ['peek', 'dlq.nowhere'],
      ['replay', 'dlq.nowhere'],
      ['purge', 'dlq.nowhere', '--yes'],
    ]) {
      const result = await runWarren(['dlq', ...args], env);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toMatch(
        /^warren: job type "dlq\.nowhere" has no dead-letter queue: e2e-.*\.dead\.dlq\.nowhere does not exist/,
      );
    }
  });
});
