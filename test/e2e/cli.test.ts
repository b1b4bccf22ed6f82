import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deadQueue, jobQueue } from 'warren';
import { deleteNamespace, queueDepth, uniqueNamespace } from '../helpers/broker.js';
import { logLines, ROOT, runWarren, spawnWarren, type WarrenProcess } from '../helpers/cli.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Resolves once `server` listens on a free port of 127.0.0.1. */
async function listening<T extends Server | ReturnType<typeof createHttpServer>>(server: T): Promise<T> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function startWorker(args: string[], env: Record<string, string>): WarrenProcess {
  const proc = spawnWarren(['start', ...args], env);
  cleanups.push(async () => {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  });
  return proc;
}

describe('warren start with a handlers module that exports middleware', () => {
  it('runs the middleware around every handler; what the handler throws reaches it, and then the dead-letter queue', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['reported.job']));
    const env = { WARREN_NAMESPACE: namespace, WARREN_LOG_LEVEL: 'info' };
    const worker = startWorker(['--handlers', 'test/fixtures/middleware-handlers.ts'], env);
    await worker.waitForOutput(/"msg":"worker started"/);
    for (const [id, payload] of [
      ['ok-1', '{}'],
      ['bad-1', '{"fail":true}'],
    ] as const)
      expect(await runWarren(['publish', 'reported.job', payload, '--id', id], env)).toMatchObject({ code: 0 });
    await worker.waitForOutput(/"event":"captured"/);
    await worker.waitForOutput(/"jobId":"bad-1".*"msg":"job failed; dead-lettering"/);
    const events = logLines(worker.stdout())
      .filter((line) => typeof line['event'] === 'string')
      .map((line) => [line['jobId'], line['event'], line['captured']]);
    expect(events).toEqual([
      ['ok-1', 'middleware-in', undefined],
      ['ok-1', 'handler-ran', undefined],
      ['bad-1', 'middleware-in', undefined],
      ['bad-1', 'handler-ran', undefined],
      ['bad-1', 'captured', 'cannot do it'],
    ]);
  });
});

describe('the README quick-start path', () => {
  it('warren start with the example handlers, then warren publish: the job runs; SIGTERM exits 0', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['email.send', 'report.generate']));
    const env = { WARREN_NAMESPACE: namespace };
    const worker = startWorker([], env);
    await worker.waitForOutput(/"msg":"worker started"/);
    expect(worker.stderr()).toMatch(
      new RegExp(`email.send → ${namespace}\\.job\\.email\\.send \\(concurrency 20, prefetch 20\\)`),
    );
    expect(worker.stderr()).toMatch(
      new RegExp(`report.generate → ${namespace}\\.job\\.report\\.generate \\(concurrency 2, prefetch 2\\)`),
    );

    const published = await runWarren(
      ['publish', 'email.send', '{"to":"a@example.com","subject":"Hi","body":"Hello"}', '--id', 'quickstart-1'],
      env,
    );
    expect(published).toMatchObject({ code: 0, stdout: 'quickstart-1\n' });
    const report = await runWarren(
      [
        'publish',
        'report.generate',
        '{"reportId":"r-1","kind":"audit","from":"2026-01-01","to":"2026-01-31"}',
        '--json',
      ],
      env,
    );
    expect(report.code).toBe(0);
    const { messageId } = JSON.parse(report.stdout) as { messageId: string };

    await worker.waitForOutput(/"msg":"e-mail sent"/);
    await worker.waitForOutput(/"msg":"report ready"/);
    const lines = logLines(worker.stdout());
    expect(lines.find((l) => l['msg'] === 'e-mail sent')).toMatchObject({
      jobId: 'quickstart-1',
      jobType: 'email.send',
      attempt: 1,
    });
    expect(lines.find((l) => l['msg'] === 'report ready')).toMatchObject({
      jobId: messageId,
      jobType: 'report.generate',
    });

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM with slow jobs in flight: they complete and are acked, exit 0, none redelivered', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['slow.work']));
    const env = { WARREN_NAMESPACE: namespace, WARREN_SHUTDOWN_GRACE_MS: '20s' };
    const worker = startWorker(['--handlers', 'test/fixtures/slow-handlers.ts'], env);
    await worker.waitForOutput(/"msg":"worker started"/);
    for (let i = 0; i < 5; i += 1) {
      const { code } = await runWarren(['publish', 'slow.work', '{"ms":1500}', '--id', `slow-${i}`], env);
      expect(code).toBe(0);
    }
    await worker.waitForOutput(/(slow job started[\s\S]*){5}/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    const lines = logLines(worker.stdout());
    const finished = lines.filter((l) => l['event'] === 'job-finished').map((l) => l['jobId']);
    expect(finished.sort()).toEqual(['slow-0', 'slow-1', 'slow-2', 'slow-3', 'slow-4']);
    expect(lines.filter((l) => l['event'] === 'job-started')).toHaveLength(5);
    // Acked, not returned: the queue is empty with the worker gone, and nothing was dead-lettered.
    const depth = await queueDepth(jobQueue(namespace, 'slow.work'));
    if (depth !== 0) console.log(worker.stdout(), worker.stderr());
    expect(depth).toBe(0);
    expect(await queueDepth(deadQueue(namespace, 'slow.work'))).toBe(0);
  });

  it('a second signal exits 1 at once', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['slow.work']));
    const env = { WARREN_NAMESPACE: namespace, WARREN_SHUTDOWN_GRACE_MS: '30s' };
    const worker = startWorker(['--handlers', 'test/fixtures/slow-handlers.ts'], env);
    await worker.waitForOutput(/"msg":"worker started"/);
    await runWarren(['publish', 'slow.work', '{"ms":20000}'], env);
    await worker.waitForOutput(/slow job started/);
    worker.child.kill('SIGTERM');
    await worker.waitForOutput(/draining in-flight jobs/);
    const started = Date.now();
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('startup failures exit non-zero with one clear line', () => {
  it('wrong password: a clear error and exit 1, promptly', async () => {
    const started = Date.now();
    const result = await runWarren(['start'], {
      WARREN_AMQP_URL: 'amqp://guest:nope@127.0.0.1:5672',
      WARREN_NAMESPACE: uniqueNamespace('e2e'),
    });
    expect(result.code).toBe(1);
    // The refused login itself is reported within 2 s (startup-errors.test.ts measures it in-process); here the
    // budget also covers starting Node and compiling the .ts handlers, which a loaded machine can slow.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(result.stderr).toMatch(
      /^warren: RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672 refused the login of user "guest"/m,
    );
    expect(result.stderr + result.stdout).not.toContain('nope');
  });

  it('a broker that is not there: one short line per attempt, no stack traces, exit 1 after the timeout; a port that is not AMQP says so', async () => {
    // A port that was free a moment ago (refused), and an HTTP server (answers with bytes that are not AMQP).
    const closed = await listening(createServer());
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const http = await listening(createHttpServer((_request, response) => response.end('hello')));
    cleanups.push(() => new Promise((resolve) => http.close(resolve)));
    const httpPort = (http.address() as AddressInfo).port;

    const started = Date.now();
    const [refused, redis, web] = await Promise.all([
      runWarren(['start'], { WARREN_AMQP_URL: `amqp://guest:guest@127.0.0.1:${closedPort}` }).then((result) => ({
        ...result,
        ms: Date.now() - started,
      })),
      // Redis waits for a line and never answers the AMQP protocol header.
      runWarren(['start'], { WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:6379' }),
      runWarren(['publish', 'email.send', '{}'], {
        WARREN_AMQP_URL: `amqp://guest:guest@127.0.0.1:${httpPort}`,
        WARREN_LOG_LEVEL: 'debug',
      }),
    ]);

    expect(refused.code).toBe(1);
    expect(refused.ms).toBeGreaterThanOrEqual(15_000);
    const lines = refused.stderr.trimEnd().split('\n');
    const attempts = lines.slice(0, -1);
    expect(attempts.length, refused.stderr).toBeGreaterThanOrEqual(5);
    for (const [index, line] of attempts.entries()) {
      expect(line).toMatch(
        new RegExp(
          `^warren: nothing is listening for AMQP at 127\\.0\\.0\\.1:${closedPort} \\(connection refused\\).*; retrying \\(attempt ${index + 1}, \\d+ s of 15 s\\)$`,
        ),
      );
    }
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^warren: could not connect to amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort} within 15000 ms: `,
      ),
    );
    expect(refused.stdout + refused.stderr).not.toMatch(/"stack"|\n\s+at /);

    expect(redis.code).toBe(1);
    expect(redis.stderr).toMatch(
      /^warren: 127\.0\.0\.1:6379 accepted the connection, but did not answer as an AMQP broker: is this RabbitMQ's port\? Check the port in WARREN_AMQP_URL; retrying \(attempt 1, \d+ s of 15 s\)$/m,
    );
    expect(redis.stderr).toMatch(/within 15000 ms: 127\.0\.0\.1:6379 accepted the connection, but did not answer/);

    expect(web.code).toBe(1);
    expect(web.stderr).toContain(
      `warren: 127.0.0.1:${httpPort} answered, but not as an AMQP broker: is this RabbitMQ's port? Check the port in WARREN_AMQP_URL; retrying (attempt 1,`,
    );
    // At debug level the driver's own error is logged, stack and all.
    const debug = web.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; err?: { message?: string; stack?: string } });
    expect(debug.find((line) => line.msg === 'connection attempt failed')?.err).toMatchObject({
      message: expect.stringMatching(/^Frame size \d+ exceeds maxFrameSize/),
      stack: expect.any(String),
    });
  });

  it('a busy HTTP port names WARREN_HTTP_PORT and the port, for start and scheduler, before connecting', async () => {
    const taken = await listening(createServer());
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as AddressInfo).port;
    // Nothing listens on the broker port either: the port must be named before any connection is tried.
    const env = { WARREN_HTTP_PORT: String(port), WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9' };
    const results = await Promise.all([runWarren(['start'], env), runWarren(['scheduler'], env)]);
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `warren: port ${port} (WARREN_HTTP_PORT) on 0.0.0.0 is already in use (EADDRINUSE), so /metrics, /livez and ` +
          '/readyz cannot be served: set WARREN_HTTP_PORT to a free port, or to 0 to pick one\n',
      );
    }
  });

  it('a handler class whose constructor throws is named, with what it threw', async () => {
    const result = await runWarren(['start', '--handlers', 'test/fixtures/throwing-constructor-handlers.ts']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'warren: class Invoices (job types invoice.send) could not be created: its constructor threw ' +
        'Error: INVOICE_API_KEY is not set. warren creates one instance per class, with no arguments\n',
    );
  });

  it('warren scheduler with no schedules says where it looked', async () => {
    const result = await runWarren(['scheduler', '--handlers', 'test/fixtures/dlq-handlers.ts'], {
      WARREN_SCHEDULES: 'test/fixtures/schedule-none.json',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `warren: no schedules to run: the schedules file ${ROOT}test/fixtures/schedule-none.json (WARREN_SCHEDULES) ` +
        `holds none, and the handlers module ${ROOT}test/fixtures/dlq-handlers.ts exports no \`schedules\`. Add ` +
        'them to config/schedules.json (or the file WARREN_SCHEDULES names), or export `schedules` from the handlers module\n',
    );
  });

  it('warren start with nothing to run names the handlers module and where it looked for schedules', async () => {
    const result = await runWarren(['start', '--handlers', 'test/fixtures/empty-handlers.ts'], {
      WARREN_SCHEDULES: 'test/fixtures/schedule-none.json',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `warren: nothing to run: the handlers module ${ROOT}test/fixtures/empty-handlers.ts registers no job types ` +
        '(its `handlers` array is empty), and there are no schedules: the schedules file ' +
        `${ROOT}test/fixtures/schedule-none.json (WARREN_SCHEDULES) holds none, and the handlers module ` +
        `${ROOT}test/fixtures/empty-handlers.ts exports no \`schedules\`\n`,
    );
  });

  it('a bad setting names the variable, the expectation and the value', async () => {
    const result = await runWarren(['start'], { WARREN_QUEUE_TYPE: 'fast' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('warren: WARREN_QUEUE_TYPE must be one of quorum, classic; got "fast"\n');
  });

  it('a handler whose schema is not a Standard Schema is refused at registration, naming the job', async () => {
    const result = await runWarren(['start', '--handlers', 'test/fixtures/bad-schema-handlers.ts'], {
      WARREN_NAMESPACE: uniqueNamespace('e2e'),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'warren: job "bad.schema": schema must be a Standard Schema (zod 4, valibot, arktype, … — an object with a "~standard" property); got an object with keys parse\n',
    );
  });

  it('a missing handlers module is named', async () => {
    const result = await runWarren(['start', '--handlers', 'no/such/module.ts']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/handlers module .*no\/such\/module\.ts does not exist/);
  });
});

describe('other commands', () => {
  it('a reader that closes the pipe early (`warren --help | head -1`) ends it quietly: exit 0, no EPIPE trace', async () => {
    const proc = spawnWarren(['--help']);
    // Closed before the command has started: its first write finds no reader.
    proc.child.stdout?.destroy();
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).toBe('');
  });

  it('--help on every command', async () => {
    for (const args of [['--help'], ['start', '--help'], ['publish', '--help'], ['topology', '--help']]) {
      const result = await runWarren(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Usage: warren/);
    }
  });

  it("warren's own options go before the command: after it, -v is the command's unknown option", async () => {
    const version = await runWarren(['-v']);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    const after = await runWarren(['topology', '-v']);
    expect(after.code).not.toBe(0);
    expect(after.stdout).toBe('');
    expect(after.stderr).toMatch(/unknown option '-v'/);
  });

  it('publish: unroutable and bad JSON exit non-zero with a clear message', async () => {
    const unroutable = await runWarren(['publish', 'nobody.home', '{}'], { WARREN_NAMESPACE: uniqueNamespace('e2e') });
    expect(unroutable.code).toBe(1);
    expect(unroutable.stderr).toMatch(/was returned: no queue is bound to .* for routing key "nobody.home"/);
    const badJson = await runWarren(['publish', 'email.send', '{nope']);
    expect(badJson.code).not.toBe(0);
    expect(badJson.stderr).toMatch(/not valid JSON/);
  });

  it('topology prints the plan, --json as data, --apply declares it', async () => {
    const namespace = uniqueNamespace('e2e');
    cleanups.push(() => deleteNamespace(namespace, ['email.send', 'report.generate']));
    const text = await runWarren(['topology'], { WARREN_NAMESPACE: namespace });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${namespace}.jobs (topic, durable)`);
    expect(text.stdout).toContain(`${namespace}.jobs --[email.send]--> ${namespace}.job.email.send`);

    const json = await runWarren(['topology', '--json', '--apply'], { WARREN_NAMESPACE: namespace });
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as { queues: Array<{ name: string; arguments: Record<string, unknown> }> };
    expect(plan.queues.map((q) => q.name)).toContain(`${namespace}.job.report.generate`);
    expect(plan.queues[0]?.arguments['x-queue-type']).toBe('quorum');
    expect(await queueDepth(`${namespace}.job.report.generate`)).toBe(0); // exists now
  });
});
