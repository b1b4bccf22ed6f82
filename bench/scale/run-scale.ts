/**
 * `npm run bench -- --scale`: what grows with what. Scenarios that push one dimension to its scale (dead letters in a
 * queue, publishes outstanding, job types in a worker, schedules in a scheduler), each step in a process of its own and a namespace of its
 * own (`bench-scale-<scenario>-<random>`, deleted afterwards). Prints the tables and targets and writes
 * bench/results/scale.md. bench/run.ts hands over to {@link runScale} when `--scale` is given.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from '../lib/args.js';
import { loadAverageText, machineInfo } from '../lib/machine.js';
import { int } from '../lib/table.js';
import { buildScaleTrial } from './build.js';
import { runningChild } from './child.js';
import { ROOT, SCALE_SCENARIOS, ScaleContext, type ScaleScenario, type ScenarioReport } from './context.js';
import { managementUrlOf } from './namespace.js';
import { keptReading, scaleMarkdown, scaleText } from './report.js';
import { deadLetterScenario } from './scenarios/dead-letters.js';
import { delayedJobsScenario } from './scenarios/delayed-jobs.js';
import { jobTypesScenario } from './scenarios/job-types.js';
import { jobsAt, publishScenario } from './scenarios/publish-concurrency.js';
import { SOAK_VARIANTS, soakScenario, type SoakVariant } from './scenarios/soak.js';
import { schedulesScenario } from './scenarios/schedules.js';

const DEFAULT_OUT = resolve(ROOT, 'bench/results/scale.md');

export const SCALE_HELP = `Usage: npm run bench -- --scale [options]

What grows with what: scenarios that push one dimension to its scale, each step in a process of its own and a
namespace of its own (bench-scale-<scenario>-<random>, deleted afterwards: queues, exchanges, Redis keys). Writes
bench/results/scale.md (machine, what each scenario measures, its targets with PASS/FAIL, the command). About
about 35 minutes on 2 cores with the defaults: 6-7 for the first three, 12-14 for schedules (it waits for minute
boundaries: --scale-fires minutes per step, plus up to one to the first; a missed target adds a profiled run),
about 4 for delayed-jobs and 10 for the soak.

Scenarios (--scale-scenarios, comma-separated; default all):
  dead-letters         10k and 100k dead letters in one dead-letter queue: wall time of \`warren dlq list\` and
                       \`warren dlq peek <type> --limit 20\` (node bin/warren.js, after npm run build; target < 1 s),
                       the depth after each peek (unchanged), and \`warren dlq replay\` against a raw amqplib replay
                       (target ≥ 0.5× its rate)
  publish-concurrency  1 / 100 / 10,000 outstanding WarrenClient.publish calls from one client against a raw
                       confirm channel: throughput, peak RSS and heap, and that every promise resolves (confirmed = N)
  job-types            1 / 10 / 50 job types in one Worker: time to ready, RSS idle and under load, total throughput
                       over a backlog spread over the types (target: 50 types ≥ 0.9× 1 type)
  delayed-jobs         10k / 100k delayed jobs pending at once in the delay cascade (WarrenClient.publish with
                       runAt, due 30–60 s later; a Worker consuming them): broker memory per pending job, publish
                       rate, lateness p50/p99/max against the due time (target p99 ≤ 1.5 s), every job id counted
                       (none lost, duplicates counted). About 3 minutes
  soak                 a Worker and a WarrenClient at 2,000 jobs/s for 10 minutes (--scale-soak-seconds): RSS,
                       heap, external, arrayBuffers, active resources by type every 5 s, heap after a full GC at
                       the start and end; growth and slope (target: RSS flat, ≤ 5 MB over the steady part)
  schedules            1 / 100 / 1,000 schedules firing every minute (one shared job type) in 1 and in 3 scheduler
                       processes (same schedules, same Redis): lateness fire time → received by a consumer
                       (target: p99 < 100 ms at 1,000), idle CPU of each process between fires (target < 2 % of a
                       core at 1,000) and CPU per fire, Redis commands per fire (INFO commandstats), and every
                       (schedule, fire time) received exactly once

Options:
  --scale-scenarios LIST   see above                                              default ${SCALE_SCENARIOS.join(',')}
  --scale-rounds N         rounds of every repeated measurement                   default 5
  --scale-depths LIST      dead letters in the queue                              default 10000,100000
  --scale-cli-runs N       runs of dlq list and of dlq peek per depth             default 5
  --scale-concurrency LIST outstanding publishes                                  default 1,100,10000
  --scale-types LIST       job types in the worker                                default 1,10,50
  --scale-jobs N           backlog of the job-types scenario                      default 40000
  --scale-prefetch N       prefetch per job type                                  default 50
  --scale-delayed-depths LIST  delayed jobs pending at once                       default 10000,100000
  --scale-delay-seconds MIN,MAX  each delayed job's delay after its publish, s    default 30,60
  --scale-soak-seconds N   length of the soak's paced load                        default 600
  --scale-soak-rate N      jobs/s of the soak                                     default 2000
  --scale-soak-sample-seconds N  seconds between two samples of the soak          default 5
  --scale-soak-variants LIST  what soaks, one after the other: ${SOAK_VARIANTS.join(', ')}
                           (arena2: MALLOC_ARENA_MAX=2; semi1: node --max-semi-space-size=1)   default warren
  --scale-schedules LIST   schedules in each scheduler process                    default 1,100,1000
  --scale-replicas LIST    scheduler processes running them                       default 1,3
  --scale-fires N          minute boundaries measured per step (at least 2)       default 2
  --profile                write a .cpuprofile of every trial and CLI command (bench/results/profiles)
  --no-profile-misses      do not profile a step again when it misses its target (default: profile it and put
                           bench/profile.ts's summary in the report)
  --out FILE               Markdown report                                        default bench/results/scale.md
  --amqp-url URL           default $BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672
  --redis-url URL          default $BENCH_REDIS_URL or redis://127.0.0.1:6379
  --management-url URL     RabbitMQ's management API, to find what a namespace holds   default the AMQP host, port 15672
  --help

One trial by hand (after a run, or \`npx tsx bench/scale/build.ts\`): node bench/.build/scale/trial.mjs --help`;

const SPEC = {
  scale: 'boolean',
  'scale-scenarios': 'list',
  'scale-rounds': 'number',
  'scale-depths': 'list',
  'scale-cli-runs': 'number',
  'scale-concurrency': 'list',
  'scale-types': 'list',
  'scale-jobs': 'number',
  'scale-prefetch': 'number',
  'scale-delayed-depths': 'list',
  'scale-delay-seconds': 'list',
  'scale-soak-seconds': 'number',
  'scale-soak-rate': 'number',
  'scale-soak-sample-seconds': 'number',
  'scale-soak-variants': 'list',
  'scale-schedules': 'list',
  'scale-replicas': 'list',
  'scale-fires': 'number',
  profile: 'boolean',
  'profile-misses': 'boolean',
  out: 'string',
  'amqp-url': 'string',
  'redis-url': 'string',
  'management-url': 'string',
  help: 'boolean',
} as const;

interface ScaleSettings {
  readonly scenarios: readonly ScaleScenario[];
  readonly rounds: number;
  readonly depths: readonly number[];
  readonly cliRuns: number;
  readonly concurrencies: readonly number[];
  readonly types: readonly number[];
  readonly jobs: number;
  readonly prefetch: number;
  readonly delayedDepths: readonly number[];
  readonly delaySeconds: readonly [number, number];
  readonly soakSeconds: number;
  readonly soakRate: number;
  readonly soakSampleSeconds: number;
  readonly soakVariants: readonly SoakVariant[];
  readonly schedules: readonly number[];
  readonly replicas: readonly number[];
  readonly fires: number;
  readonly profile: boolean;
  readonly profileMisses: boolean;
  readonly out: string;
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly managementUrl: string;
}

function wholeNumbers(option: string, texts: readonly string[], most: number): number[] {
  return texts.map((text) => {
    const value = Number(text.replaceAll('_', '').replaceAll(',', ''));
    if (!Number.isInteger(value) || value < 1 || value > most)
      throw new Error(`--${option}: ${JSON.stringify(text)} is not a whole number 1-${int(most)}`);
    return value;
  });
}

/** `--scale-delay-seconds MIN,MAX`: two whole numbers, the first below the second. */
function delayRange(values: readonly number[]): [number, number] {
  const [low, high] = values;
  if (values.length !== 2 || low === undefined || high === undefined || low >= high)
    throw new Error(`--scale-delay-seconds: give MIN,MAX with MIN < MAX; got ${values.join(',')}`);
  return [low, high];
}

function soakVariants(names: readonly string[]): SoakVariant[] {
  return names.map((name) => {
    if (!(SOAK_VARIANTS as readonly string[]).includes(name))
      throw new Error(`--scale-soak-variants: unknown ${JSON.stringify(name)}; known: ${SOAK_VARIANTS.join(', ')}`);
    return name as SoakVariant;
  });
}

function atLeast(option: string, value: number, least: number): number {
  if (value < least) throw new Error(`--${option} must be at least ${least}; got ${value}`);
  return value;
}

function settingsFrom(argv: readonly string[]): ScaleSettings | undefined {
  const args = parseArgs(argv, SPEC);
  if (args['help']) return undefined;
  const scenarios = ((args['scale-scenarios'] as string[] | undefined) ?? [...SCALE_SCENARIOS]).map((name) => {
    if (!(SCALE_SCENARIOS as readonly string[]).includes(name))
      throw new Error(
        `--scale-scenarios: unknown scenario ${JSON.stringify(name)}; known: ${SCALE_SCENARIOS.join(', ')}`,
      );
    return name as ScaleScenario;
  });
  const list = (name: string, fallback: string, most: number): number[] =>
    wholeNumbers(name, (args[name] as string[] | undefined) ?? fallback.split(','), most);
  const num = (name: string, fallback: number): number => Math.round((args[name] as number | undefined) ?? fallback);
  const amqpUrl =
    (args['amqp-url'] as string | undefined) ?? process.env['BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  return {
    scenarios: SCALE_SCENARIOS.filter((name) => scenarios.includes(name)),
    rounds: num('scale-rounds', 5),
    depths: list('scale-depths', '10000,100000', 1_000_000),
    cliRuns: num('scale-cli-runs', 5),
    concurrencies: list('scale-concurrency', '1,100,10000', 100_000),
    types: list('scale-types', '1,10,50', 500).sort((a, b) => a - b),
    jobs: num('scale-jobs', 40_000),
    prefetch: num('scale-prefetch', 50),
    delayedDepths: list('scale-delayed-depths', '10000,100000', 1_000_000),
    delaySeconds: delayRange(list('scale-delay-seconds', '30,60', 86_400)),
    soakSeconds: num('scale-soak-seconds', 600),
    soakRate: num('scale-soak-rate', 2_000),
    soakSampleSeconds: num('scale-soak-sample-seconds', 5),
    soakVariants: soakVariants((args['scale-soak-variants'] as string[] | undefined) ?? ['warren']),
    schedules: list('scale-schedules', '1,100,1000', 10_000).sort((a, b) => a - b),
    replicas: list('scale-replicas', '1,3', 10),
    fires: atLeast('scale-fires', num('scale-fires', 2), 2),
    profile: args['profile'] === true,
    profileMisses: args['profile-misses'] !== false,
    out: resolve((args['out'] as string | undefined) ?? DEFAULT_OUT),
    amqpUrl,
    redisUrl: (args['redis-url'] as string | undefined) ?? process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    managementUrl: (args['management-url'] as string | undefined) ?? managementUrlOf(amqpUrl),
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function describeSettings(s: ScaleSettings): string[] {
  const lines = [
    `Scenarios: ${s.scenarios.join(', ')}; ${s.rounds} rounds of every repeated measurement (medians and min–max reported).`,
    'Quorum queues, persistent messages, publisher confirms, the main bench’s ~200-byte JSON payload and no-op handler.',
    'Every trial is a fresh `node` process (bench/.build/scale/trial.mjs, bundled like the main bench’s; the CLI from ' +
      '`dist/`), in a namespace of its own, deleted afterwards.',
  ];
  if (s.scenarios.includes('dead-letters'))
    lines.push(
      `dead-letters: depths ${s.depths.map(int).join(', ')}; ${s.cliRuns} runs of dlq list and of dlq peek per depth.`,
    );
  if (s.scenarios.includes('publish-concurrency'))
    lines.push(
      `publish-concurrency: ${s.concurrencies.map((c) => `${int(jobsAt(c))} publishes at concurrency ${int(c)}`).join(', ')}.`,
    );
  if (s.scenarios.includes('job-types'))
    lines.push(`job-types: ${s.types.join(', ')} job types; ${int(s.jobs)} jobs; prefetch ${s.prefetch} per type.`);
  if (s.scenarios.includes('delayed-jobs'))
    lines.push(
      `delayed-jobs: ${s.delayedDepths.map(int).join(', ')} jobs pending at once, each due ${s.delaySeconds[0]}–${s.delaySeconds[1]} s after its publish; one trial per depth.`,
    );
  if (s.scenarios.includes('soak'))
    lines.push(
      `soak: ${s.soakVariants.join(', ')}, ${int(s.soakSeconds)} s each at ${int(s.soakRate)} jobs/s, sampled every ${s.soakSampleSeconds} s.`,
    );
  if (s.scenarios.includes('schedules'))
    lines.push(
      `schedules: ${s.schedules.map(int).join(', ')} schedules in ${s.replicas.join(', ')} scheduler processes; ` +
        `${s.fires} minute boundaries per step (one run each: --scale-rounds does not apply).`,
    );
  if (s.profile)
    lines.push('Every trial and CLI command ran under `node --cpu-prof` (`--profile`): slower than without.');
  return lines;
}

/** Runs the scale scenarios (`argv` without the runner's own name) and writes the report. */
export async function runScale(argv: readonly string[]): Promise<void> {
  const s = settingsFrom(argv);
  if (!s) {
    process.stdout.write(`${SCALE_HELP}\n`);
    return;
  }
  // Ahead of bench/run.ts's own handler, which exits at once.
  process.prependListener('SIGINT', () => {
    runningChild()?.kill('SIGKILL');
    process.exit(130);
  });
  const started = performance.now();
  const bundle = await buildScaleTrial();
  const machine = await machineInfo(s.amqpUrl, s.redisUrl);
  if (machine.rabbitmq.startsWith('unreachable')) throw new Error(`RabbitMQ at ${s.amqpUrl} is ${machine.rabbitmq}`);
  log(
    `warren scale: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, RabbitMQ ${machine.rabbitmq}, Redis ${machine.redis}; load ${machine.loadAverage}`,
  );
  const ctx = new ScaleContext(
    { amqpUrl: s.amqpUrl, redisUrl: s.redisUrl, managementUrl: s.managementUrl },
    bundle,
    s.rounds,
    s.profile,
    s.profileMisses,
    log,
  );
  const reports: ScenarioReport[] = [];
  const failed: Array<{ scenario: string; error: string }> = [];
  for (const scenario of s.scenarios) {
    try {
      switch (scenario) {
        case 'dead-letters':
          reports.push(await deadLetterScenario(ctx, { depths: s.depths, cliRuns: s.cliRuns }));
          break;
        case 'publish-concurrency':
          reports.push(await publishScenario(ctx, { concurrencies: s.concurrencies }));
          break;
        case 'job-types':
          reports.push(await jobTypesScenario(ctx, { types: s.types, jobs: s.jobs, prefetch: s.prefetch }));
          break;
        case 'delayed-jobs':
          reports.push(
            await delayedJobsScenario(ctx, {
              depths: s.delayedDepths,
              minDelaySeconds: s.delaySeconds[0],
              maxDelaySeconds: s.delaySeconds[1],
            }),
          );
          break;
        case 'soak':
          reports.push(
            await soakScenario(ctx, {
              variants: s.soakVariants,
              seconds: s.soakSeconds,
              rate: s.soakRate,
              sampleSeconds: s.soakSampleSeconds,
            }),
          );
          break;
        case 'schedules':
          reports.push(await schedulesScenario(ctx, { schedules: s.schedules, replicas: s.replicas, fires: s.fires }));
          break;
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push({ scenario, error: message });
      log(`${scenario} failed: ${message}`);
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  const runtime = `${Math.floor(elapsed / 60)} min ${Math.round(elapsed % 60)} s`;
  const summary = {
    machine,
    settings: describeSettings(s),
    runtime,
    endLoad: loadAverageText(),
    failed,
    leftBehind: await ctx.leftBehind(),
  };
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, scaleMarkdown(summary, reports, ctx, keptReading(s.out)));
  process.stdout.write(
    `${scaleText(reports)}\n\nruntime ${runtime}; report written to ${relative(process.cwd(), s.out) || s.out}\n`,
  );
  if (failed.length > 0) process.exitCode = 1;
}
