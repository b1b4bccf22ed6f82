/**
 * One step of a scale scenario in a process of its own (bench/scale/run-scale.ts starts it from the bundle that
 * bench/scale/build.ts makes). Prints one JSON line on stdout: the result, or `{ "ok": false, "error" }` with exit
 * code 1.
 *
 *   node bench/.build/scale/trial.mjs --mode publish --system warren --concurrency 10000 --jobs 50000 --namespace bench-scale-x
 */
import { parseArgs } from '../lib/args.js';
import { TRIAL_MODES, type ScaleTrialFailure, type ScaleTrialResult, type TrialMode } from './scale-types.js';

const HELP = `Usage: node bench/.build/scale/trial.mjs --mode <${TRIAL_MODES.join('|')}> --namespace NAME [options]

  fill-dead-letters  --job-type T --count N            declare T's topology, put N dead letters in its dead-letter queue
  raw-replay         --job-type T --count N [--prefetch 100] [--step 1000]
                                                      replay N dead letters with plain amqplib (the baseline)
  publish            --system warren|amqplib --concurrency C --jobs N [--publish-buffer-size B]
                                                      N publishes, C awaited at once; every promise counted
                                                      (B: warren's publishBufferSize)
  job-types          --types T --jobs N [--prefetch 50] [--idle-seconds 2]
                                                      one Worker with T job types: start times, RSS, throughput
  delayed-jobs       --jobs N [--min-delay-seconds 20] [--max-delay-seconds 60] [--concurrency 100] [--prefetch 100]
                     [--management-url URL]           N delayed jobs pending at once, then delivered: broker
                                                      memory, publish rate, lateness, exactly-once by job id
  soak               --system warren|amqplib [--rate 2000] [--seconds 600] [--sample-seconds 5] [--prefetch 50]
                                                      a Worker and a client at a steady rate: memory and active
                                                      resources sampled (run node with --expose-gc)
  schedules          --schedules N --replicas R [--fires 2] [--every-seconds 60] [--lead-seconds 15]
                     [--replica-node-args JSON]
                                                      N schedules (one job type) in R scheduler processes (mode
                                                      scheduler), started lead seconds before a fire time; F fire
                                                      times measured from a consumer here: lateness, exactly once,
                                                      Redis commands; the first process gets the node flags given
                                                      (a JSON array, e.g. --cpu-prof ones). --every-seconds 10 runs
                                                      a step by hand in about half a minute
  scheduler          --schedules N --first-fire-ms T --fires F [--every-seconds 60]
                                                      one scheduler process (started by schedules): measures its CPU
                                                      over the fires from T (epoch ms) on, then stops

  --amqp-url URL     default $BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672
  --redis-url URL    default $BENCH_REDIS_URL or redis://127.0.0.1:6379
  --management-url URL  RabbitMQ's management API (default the AMQP host, port 15672)
  --timeout-seconds N  give up after this (default 300)

The namespace is the caller's (bench-scale-<scenario>-<random>); publish, job-types and schedules delete the queues
and exchanges they declared, the others leave their queues to the caller (and every mode its Redis keys).`;

const SPEC = {
  mode: 'string',
  namespace: 'string',
  'job-type': 'string',
  count: 'number',
  prefetch: 'number',
  step: 'number',
  system: 'string',
  concurrency: 'number',
  'publish-buffer-size': 'number',
  jobs: 'number',
  types: 'number',
  'idle-seconds': 'number',
  'min-delay-seconds': 'number',
  'max-delay-seconds': 'number',
  rate: 'number',
  seconds: 'number',
  'sample-seconds': 'number',
  'management-url': 'string',
  schedules: 'number',
  replicas: 'number',
  fires: 'number',
  'every-seconds': 'number',
  'lead-seconds': 'number',
  'first-fire-ms': 'number',
  'replica-node-args': 'string',
  'timeout-seconds': 'number',
  'amqp-url': 'string',
  'redis-url': 'string',
  help: 'boolean',
} as const;

// Each mode loads only its own module: a raw baseline's RSS holds none of warren's code.
async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args['help']) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const mode = String(args['mode'] ?? '') as TrialMode;
  if (!TRIAL_MODES.includes(mode))
    throw new Error(`--mode must be one of ${TRIAL_MODES.join(', ')}; got ${JSON.stringify(args['mode'])}`);
  const namespace = args['namespace'];
  if (typeof namespace !== 'string' || !namespace.startsWith('bench-scale-'))
    throw new Error(`--namespace must start with bench-scale-; got ${JSON.stringify(namespace)}`);
  const num = (name: string, fallback: number): number => Math.round((args[name] as number | undefined) ?? fallback);
  const amqpUrl =
    (args['amqp-url'] as string | undefined) ?? process.env['BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl =
    (args['redis-url'] as string | undefined) ?? process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const timeoutMs = num('timeout-seconds', 300) * 1000;
  const hardStop = setTimeout(() => {
    void print({ ok: false, mode, error: `trial did not finish within ${timeoutMs / 1000 + 30} s` }).then(() =>
      process.exit(1),
    );
  }, timeoutMs + 30_000);
  hardStop.unref();
  let outcome: ScaleTrialResult | ScaleTrialFailure;
  try {
    const jobType = String(args['job-type'] ?? 'bench.dead');
    switch (mode) {
      case 'fill-dead-letters':
        outcome = await (
          await import('./trials/fill-dead-letters.js')
        ).fillDeadLetters({ amqpUrl, namespace, jobType, count: num('count', 10_000) });
        break;
      case 'raw-replay':
        outcome = await (
          await import('./trials/raw-replay.js')
        ).rawReplay({
          amqpUrl,
          namespace,
          jobType,
          count: num('count', 10_000),
          prefetch: num('prefetch', 100),
          step: num('step', 1_000),
        });
        break;
      case 'publish': {
        const system = String(args['system'] ?? '');
        if (system !== 'warren' && system !== 'amqplib')
          throw new Error(`--system must be warren or amqplib; got ${JSON.stringify(system)}`);
        outcome = await (
          await import('./trials/publish-concurrency.js')
        ).publishConcurrency({
          system,
          amqpUrl,
          redisUrl,
          namespace,
          jobs: num('jobs', 20_000),
          concurrency: num('concurrency', 100),
          publishBufferSize: args['publish-buffer-size'] === undefined ? undefined : num('publish-buffer-size', 1),
        });
        break;
      }
      case 'job-types':
        outcome = await (
          await import('./trials/job-types.js')
        ).jobTypes({
          amqpUrl,
          redisUrl,
          namespace,
          types: num('types', 1),
          jobs: num('jobs', 20_000),
          prefetch: num('prefetch', 50),
          idleSeconds: (args['idle-seconds'] as number | undefined) ?? 2,
          timeoutMs,
        });
        break;
      case 'delayed-jobs':
        outcome = await (
          await import('./trials/delayed-jobs.js')
        ).delayedJobs({
          endpoints: {
            amqpUrl,
            redisUrl,
            managementUrl:
              (args['management-url'] as string | undefined) ??
              (await import('./namespace.js')).managementUrlOf(amqpUrl),
          },
          namespace,
          jobs: num('jobs', 10_000),
          minDelaySeconds: (args['min-delay-seconds'] as number | undefined) ?? 20,
          maxDelaySeconds: (args['max-delay-seconds'] as number | undefined) ?? 60,
          concurrency: num('concurrency', 100),
          prefetch: num('prefetch', 100),
          timeoutMs,
        });
        break;
      case 'soak': {
        const system = String(args['system'] ?? 'warren');
        if (system !== 'warren' && system !== 'amqplib')
          throw new Error(`--system must be warren or amqplib; got ${JSON.stringify(system)}`);
        outcome = await (
          await import('./trials/soak.js')
        ).soak({
          system,
          amqpUrl,
          redisUrl,
          namespace,
          rate: (args['rate'] as number | undefined) ?? 2_000,
          seconds: (args['seconds'] as number | undefined) ?? 600,
          sampleSeconds: (args['sample-seconds'] as number | undefined) ?? 5,
          prefetch: num('prefetch', 50),
          timeoutMs,
        });
        break;
      }
      case 'schedules':
        outcome = await (
          await import('./trials/schedules.js')
        ).schedulesStep({
          amqpUrl,
          redisUrl,
          namespace,
          schedules: num('schedules', 1),
          replicas: num('replicas', 1),
          fires: num('fires', 2),
          everySeconds: num('every-seconds', 60),
          leadSeconds: num('lead-seconds', 15),
          bundle: process.argv[1] ?? '',
          replicaNodeArgs: nodeArgs(args['replica-node-args']),
        });
        break;
      case 'scheduler': {
        const firstFireMs = args['first-fire-ms'];
        if (typeof firstFireMs !== 'number') throw new Error('--first-fire-ms is required');
        outcome = await (
          await import('./trials/scheduler-replica.js')
        ).schedulerReplica({
          amqpUrl,
          redisUrl,
          namespace,
          schedules: num('schedules', 1),
          everySeconds: num('every-seconds', 60),
          firstFireMs,
          fires: num('fires', 2),
        });
        break;
      }
    }
  } catch (error) {
    outcome = { ok: false, mode, error: error instanceof Error ? error.message : String(error) };
  }
  await print(outcome);
  return outcome.ok ? 0 : 1;
}

/** `--replica-node-args`: a JSON array of strings. */
function nodeArgs(value: unknown): string[] {
  if (value === undefined) return [];
  const parsed: unknown = JSON.parse(String(value));
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string'))
    throw new Error(`--replica-node-args must be a JSON array of strings; got ${String(value)}`);
  return parsed;
}

/**
 * Prints the result line; resolves once it is written. Writes to a pipe are asynchronous, and `process.exit` right
 * after one cuts a line longer than the pipe's 64 KiB (a schedules step's results are).
 */
function print(result: ScaleTrialResult | ScaleTrialFailure): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, () => resolve()));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
