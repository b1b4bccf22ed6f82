import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { defineJob, Registry, Worker } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { runWarren } from '../helpers/cli.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const dir = mkdtempSync(join(tmpdir(), 'warren-publish-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A payload of more than 1 MiB of JSON: eight times what a shell passes in one argument. */
function bigPayload(tag: string): { tag: string; items: Array<{ i: number; text: string }> } {
  return { tag, items: Array.from({ length: 9_000 }, (_, i) => ({ i, text: `${tag}-${i}-${'é'.repeat(60)}` })) };
}

describe('warren publish: the payload from a file or stdin', () => {
  it('a payload over 1 MiB reaches the consumer intact through @file and through stdin', async () => {
    const config = testConfig({ redisUrl: 'none' });
    cleanups.push(() => deleteNamespace(config.namespace, ['cli.big']));
    const received = new Map<string, unknown>();
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob('cli.big', (payload, ctx) => void received.set(ctx.jobId, payload))]),
      logger: memoryLogger('silent').logger,
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const env = { WARREN_NAMESPACE: config.namespace };

    const fromFile = bigPayload('file');
    const fromStdin = bigPayload('stdin');
    const fileText = JSON.stringify(fromFile, null, 2);
    const stdinText = JSON.stringify(fromStdin);
    expect(Buffer.byteLength(fileText)).toBeGreaterThan(1_048_576);
    expect(Buffer.byteLength(stdinText)).toBeGreaterThan(1_048_576);
    writeFileSync(join(dir, 'big.json'), fileText);

    const [file, stdin] = await Promise.all([
      runWarren(['publish', 'cli.big', `@${join(dir, 'big.json')}`, '--id', 'big-file'], env),
      runWarren(['publish', 'cli.big', '-', '--id', 'big-stdin', '--json'], env, { input: stdinText }),
    ]);
    expect(file, file.stderr).toMatchObject({ code: 0, stdout: 'big-file\n' });
    expect(stdin.code, stdin.stderr).toBe(0);
    expect(JSON.parse(stdin.stdout)).toEqual({ messageId: 'big-stdin', jobType: 'cli.big' });

    await waitFor('both big jobs', () => received.size === 2, 15_000);
    expect(received.get('big-file')).toEqual(fromFile);
    expect(received.get('big-stdin')).toEqual(fromStdin);
  });

  it('names the file that is missing, unreadable or not JSON (with line, column and position), before connecting', async () => {
    writeFileSync(join(dir, 'broken.json'), '{\n  "to": "a@example.com",\n  "subject": "Hi",,\n}\n');
    mkdirSync(join(dir, 'a-directory.json'));
    // Nothing listens here: a check made after connecting would never be reached (the error would be the connection's).
    const env = { WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9' };
    const [missing, directory, broken, inline, empty, badType] = await Promise.all([
      runWarren(['publish', 'email.send', `@${join(dir, 'missing.json')}`], env),
      runWarren(['publish', 'email.send', `@${join(dir, 'a-directory.json')}`], env),
      runWarren(['publish', 'email.send', `@${join(dir, 'broken.json')}`], env),
      runWarren(['publish', 'email.send', '{"to": nope}'], env),
      runWarren(['publish', 'email.send', '-'], env, { input: '' }),
      runWarren(['publish', 'email send', '{}'], env),
    ]);
    for (const result of [missing, directory, broken, inline, empty, badType]) expect(result.code).toBe(1);
    expect(missing.stderr).toBe(`warren: payload file ${join(dir, 'missing.json')} does not exist\n`);
    expect(directory.stderr).toBe(`warren: payload file ${join(dir, 'a-directory.json')} is a directory, not a file\n`);
    expect(broken.stderr).toBe(
      `warren: payload file ${join(dir, 'broken.json')} is not valid JSON: ` +
        `Expected double-quoted property name at line 3, column 19 (position 45)\n`,
    );
    expect(inline.stderr).toBe(
      "warren: the payload argument is not valid JSON: Unexpected token 'o' at line 1, column 9 (position 8)\n",
    );
    expect(empty.stderr).toBe('warren: the payload read from stdin is empty: expected a JSON value\n');
    expect(badType.stderr).toBe(
      'warren: job type "email send" is not valid: use letters, digits, "-" and "_" in dot-separated words, at most 150 characters (it is the routing key)\n',
    );
  });
});
