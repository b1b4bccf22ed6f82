import { copyFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadAverageText } from '../../lib/machine.js';
import { fixed, int, type Section } from '../../lib/table.js';
import {
  PROFILE_DIR,
  profileFlags,
  type Check,
  type ProfileSummary,
  type ScaleContext,
  type ScenarioReport,
  type TrialOutcome,
} from '../context.js';
import { newNamespace } from '../namespace.js';
import type { SchedulerReplicaResult, SchedulesResult } from '../scale-types.js';
import { SCHEDULE_JOB_TYPE } from '../trials/schedule-names.js';

/** p99 lateness (fire time → received by the consumer) of the most schedules must stay under this. */
const LATENESS_TARGET_MS = 100;
/** Each scheduler process at rest, between fires, must use less than this share of one core. */
const IDLE_CPU_TARGET_PCT = 2;
/** The scheduler processes start this long before the first measured fire time (after the step's setup). */
const LEAD_SECONDS = 15;

/** The settings of the scenario. */
export interface ScheduleSettings {
  /** Schedules in each scheduler process. */
  readonly schedules: readonly number[];
  /** Scheduler processes running the same schedules. */
  readonly replicas: readonly number[];
  /** Fire times (minute boundaries) measured per step; at least 2, for an idle window between them. */
  readonly fires: number;
}

interface Step {
  readonly schedules: number;
  readonly replicas: number;
  readonly result: SchedulesResult | undefined;
  readonly error: string | undefined;
}

/**
 * Schedules at scale: 1 / 100 / 1,000 schedules firing every minute in one scheduler process and in 3 (the same
 * schedules, the same Redis: every fire time published once, the per-fire lock electing the publisher). Each step
 * runs in a namespace of its own for `fires` minute boundaries: fire-time lateness at a consumer, exactly once by
 * message id, each scheduler process's CPU at rest and per fire, Redis commands per fire.
 */
export async function schedulesScenario(ctx: ScaleContext, settings: ScheduleSettings): Promise<ScenarioReport> {
  const started = performance.now();
  const loadStart = loadAverageText();
  const steps: Step[] = [];
  const profiles: ProfileSummary[] = [];
  for (const schedules of settings.schedules) {
    for (const replicas of settings.replicas) {
      const name = `scale-schedules-s${schedules}-r${replicas}`;
      const outcome = await runStep(ctx, schedules, replicas, settings.fires, ctx.profileAll ? name : undefined);
      const result = 'result' in outcome ? outcome.result : undefined;
      steps.push({ schedules, replicas, result, error: 'error' in outcome ? outcome.error : undefined });
      ctx.log(
        `schedules ${String(schedules).padStart(5)} × ${replicas} process${replicas === 1 ? '' : 'es'}: ` +
          (result
            ? `late p50 ${int(result.received.p50)} / p99 ${int(result.received.p99)} / max ` +
              `${int(result.received.max)} ms; ${int(result.distinct)} of ${int(result.expected)} received, ` +
              `${result.missing} missing, ${result.duplicates} twice; idle CPU ${idleCells(result).join(' / ')} %`
            : `FAILED: ${'error' in outcome ? outcome.error : ''}`),
      );
    }
  }

  const most = Math.max(...settings.schedules);
  const checks: Check[] = [];
  const notes: string[] = [];
  for (const step of steps) {
    if (step.error !== undefined)
      notes.push(`${count(step.schedules)}, ${processes(step.replicas)} failed: ${step.error}`);
    for (const example of step.result?.examples ?? [])
      notes.push(`${count(step.schedules)}, ${processes(step.replicas)}: ${example}`);
  }
  for (const replicas of settings.replicas) {
    const step = steps.find((s) => s.schedules === most && s.replicas === replicas);
    const r = step?.result;
    const where = `${count(most)}, ${processes(replicas)}`;
    checks.push({
      name: `p99 lateness, ${where}`,
      expected: `< ${LATENESS_TARGET_MS} ms (fire time → received)`,
      measured: r
        ? `${int(r.received.p99)} ms (p50 ${int(r.received.p50)}, max ${int(r.received.max)}; ${int(r.received.count)} fires)`
        : 'failed',
      pass: r && r.received.count > 0 ? r.received.p99 < LATENESS_TARGET_MS : undefined,
    });
    const idle = r ? r.replicaResults.map(idlePct) : [];
    checks.push({
      name: `idle CPU, ${where}`,
      expected: `< ${IDLE_CPU_TARGET_PCT} % of a core, each process`,
      measured: r ? `${idleCells(r).join(' / ')} %` : 'failed',
      pass: idle.length > 0 && idle.every(Number.isFinite) ? idle.every((v) => v < IDLE_CPU_TARGET_PCT) : undefined,
    });
  }
  for (const step of steps) {
    const r = step.result;
    checks.push({
      name: `exactly once, ${count(step.schedules)}, ${processes(step.replicas)}`,
      expected: `every (schedule, fire time) received once${r ? `: ${int(r.expected)}` : ''}`,
      measured: r
        ? `${int(r.distinct - r.duplicates)} once, ${int(r.missing)} missing, ${int(r.duplicates)} more than once, ` +
          `${int(r.unexpected)} unexpected`
        : 'failed',
      pass: r ? r.missing === 0 && r.duplicates === 0 && r.unexpected === 0 && r.distinct === r.expected : undefined,
    });
  }

  if (ctx.profileMisses && !ctx.profileAll) {
    for (const replicas of settings.replicas) {
      const where = `${count(most)}, ${processes(replicas)}`;
      const late = checks.some((c) => c.name === `p99 lateness, ${where}` && c.pass === false);
      const idle = checks.some((c) => c.name === `idle CPU, ${where}` && c.pass === false);
      if (!late && !idle) continue;
      profiles.push(...(await profileStep(ctx, most, replicas, { late, idle })));
    }
  }

  const sections = reportSections(steps, settings.fires);
  notes.push(
    `Every schedule publishes the one job type \`${SCHEDULE_JOB_TYPE}\` (one queue, one consumer): a job type per ` +
      'schedule would add a queue each to the consumer side, not to the scheduler.',
    `The machine has 2 cores, shared by the scheduler processes (which all wake at the same instant), the consumer, ` +
      'RabbitMQ, Redis and whatever else runs on it: lateness and CPU per fire include waiting for a core.',
  );
  return {
    scenario: 'schedules',
    title: `Schedules: ${settings.schedules.map(int).join(' / ')} schedules firing every minute, in ${settings.replicas
      .map(processes)
      .join(' and ')}`,
    measured: [
      `N = ${settings.schedules.map(int).join(' / ')} schedules (cron \`* * * * *\`, each firing every minute and ` +
        `publishing a job of the one job type \`${SCHEDULE_JOB_TYPE}\`), in R = ${settings.replicas.join(' / ')} ` +
        'scheduler processes: a Worker with no job types and the schedules, as `warren scheduler` runs one ' +
        '(metrics on, logs off), the same schedules in every process and the same Redis, so that the per-fire lock ' +
        '(src/scheduler/fire-lock.ts) must elect one publisher for each (schedule, fire time).',
      `Each step has a namespace of its own and measures ${settings.fires} minute boundaries: its scheduler ` +
        `processes start ${LEAD_SECONDS} s before the first (once the step's queue is declared) and stop after the last.`,
      '**Lateness**: a plain amqplib consumer in the measuring process (bench/scale/trials/schedules.ts) takes the ' +
        'fire time from the message id the scheduler sets (`<schedule>@<fire time>`); lateness = its first arrival ' +
        '− that fire time, p50/p99/max over every (schedule, fire time) of the step. Also from the scheduler side: ' +
        'fire time → the `published` outcome (after the broker confirmed the job).',
      '**Exactly once**: every (schedule, fire time) of the measured boundaries counted by message id: none ' +
        'missing, none received twice (the consumer does not de-duplicate), none unexpected.',
      '**CPU** of each scheduler process (`process.cpuUsage`): idle = CPU time between fires (from 1 s after a ' +
        "fire's last outcome in that process to 1 s before the next fire time) / that time, in % of one core; per " +
        'fire = CPU time in the fire window (1 s before the fire time to 1 s after its last outcome, at least 3 s) ' +
        'less the idle rate over its length.',
      '**Redis commands per fire**: `INFO commandstats` of the Redis server read at the edges of each fire window ' +
        'and idle window; (calls in the fire windows − the idle windows’ rate × their length) / (N × fires). The ' +
        "idle windows' rate is everyone else using the shared Redis. Redis counts the commands a Lua script calls " +
        "as well as the script's EVALSHA: redlock's acquire and release are scripts.",
    ],
    command: 'npm run bench -- --scale --scale-scenarios schedules',
    sections,
    checks,
    notes,
    profiles,
    seconds: (performance.now() - started) / 1000,
    loadStart,
    loadEnd: loadAverageText(),
  };
}

/** The trial arguments of one step; `replicaNodeArgs` go to its first scheduler process (the profiler's flags). */
function stepArgs(
  schedules: number,
  replicas: number,
  fires: number,
  namespace: string,
  replicaNodeArgs: readonly string[],
): string[] {
  return [
    '--mode',
    'schedules',
    '--schedules',
    String(schedules),
    '--replicas',
    String(replicas),
    '--fires',
    String(fires),
    '--lead-seconds',
    String(LEAD_SECONDS),
    '--namespace',
    namespace,
    ...(replicaNodeArgs.length > 0 ? ['--replica-node-args', JSON.stringify(replicaNodeArgs)] : []),
  ];
}

/** Up to a minute to the first boundary, the lead, the fires, the drain. */
function stepTimeoutSeconds(fires: number): number {
  return 60 + LEAD_SECONDS + fires * 60 + 60;
}

/** One step in a namespace of its own; `profileName` profiles its first scheduler process. */
async function runStep(
  ctx: ScaleContext,
  schedules: number,
  replicas: number,
  fires: number,
  profileName: string | undefined,
): Promise<TrialOutcome<SchedulesResult>> {
  const namespace = newNamespace('schedules');
  const replicaProfile = profileName === undefined ? [] : profileFlags(`${profileName}-scheduler1`);
  const outcome = await ctx.trial<SchedulesResult>(
    stepArgs(schedules, replicas, fires, namespace, replicaProfile),
    profileName ?? `scale-schedules-s${schedules}-r${replicas}`,
    stepTimeoutSeconds(fires),
  );
  await ctx.cleanup(namespace, [SCHEDULE_JOB_TYPE]);
  const first = 'result' in outcome ? outcome.result.replicaResults[0] : undefined;
  if (profileName !== undefined && first) writeProfileWindow(`${profileName}-scheduler1`, first.windowUs);
  return outcome;
}

/**
 * Runs a step again with its first scheduler process under `--cpu-prof` and summarises the first fire window (a
 * lateness miss) and the first idle window (an idle-CPU miss) of that profile.
 */
async function profileStep(
  ctx: ScaleContext,
  schedules: number,
  replicas: number,
  missed: { late: boolean; idle: boolean },
): Promise<ProfileSummary[]> {
  const name = `scale-schedules-s${schedules}-r${replicas}-scheduler1`;
  const where = `${count(schedules)}, ${processes(replicas)}`;
  ctx.log(`  profiling: the first scheduler process of ${where}`);
  const namespace = newNamespace('schedules');
  const flags = profileFlags(name);
  const fires = missed.idle ? 2 : 1;
  const args = stepArgs(schedules, replicas, fires, namespace, flags);
  const outcome = await ctx.trial<SchedulesResult>(args, `${name}-run`, stepTimeoutSeconds(fires));
  await ctx.cleanup(namespace, [SCHEDULE_JOB_TYPE]);
  if ('error' in outcome) {
    ctx.log(`  profiling ${where} failed: ${outcome.error}`);
    return [];
  }
  const first = outcome.result.replicaResults[0] as SchedulerReplicaResult;
  const command =
    `node bench/.build/scale/trial.mjs ${args.slice(0, -1).join(' ')} '<--cpu-prof flags>' ` +
    `(the first of the ${replicas} scheduler processes profiled)`;
  const summaries: ProfileSummary[] = [];
  if (missed.late) {
    writeProfileWindow(name, first.fireWindowUs);
    summaries.push(
      await ctx.summarise(
        `a fire of ${where} (first scheduler process, its first fire window; p99 lateness ` +
          `${int(outcome.result.received.p99)} ms in this run)`,
        name,
        command,
      ),
    );
  }
  if (missed.idle && first.idleWindowUs) {
    const idleName = `${name}-idle`;
    copyFileSync(resolve(PROFILE_DIR, `${name}.cpuprofile`), resolve(PROFILE_DIR, `${idleName}.cpuprofile`));
    writeProfileWindow(idleName, first.idleWindowUs);
    summaries.push(
      await ctx.summarise(`${where} at rest between two fires (first scheduler process)`, idleName, command),
    );
  }
  return summaries;
}

/** The window bench/profile.ts restricts a summary to, beside the profile. */
function writeProfileWindow(name: string, windowUs: readonly [number, number]): void {
  writeFileSync(resolve(PROFILE_DIR, `${name}.json`), `${JSON.stringify({ windowUs })}\n`);
}

function count(schedules: number): string {
  return schedules === 1 ? '1 schedule' : `${int(schedules)} schedules`;
}

function processes(replicas: number): string {
  return replicas === 1 ? '1 scheduler process' : `${replicas} scheduler processes`;
}

/** A process's CPU at rest, % of one core (NaN without an idle window). */
function idlePct(replica: SchedulerReplicaResult): number {
  const cpuUs = replica.idle.reduce((sum, w) => sum + w.cpuUs, 0);
  const ms = replica.idle.reduce((sum, w) => sum + w.windowMs, 0);
  return ms > 0 ? cpuUs / 1000 / ms / 0.01 : Number.NaN;
}

function idleCells(result: SchedulesResult): string[] {
  return result.replicaResults.map((replica) => fixed(2)(idlePct(replica)));
}

/** A process's CPU per fire time (all its schedules), ms, less its idle rate over the fire windows. */
function cpuPerFireMs(replica: SchedulerReplicaResult): number {
  const idleRate = Number.isFinite(idlePct(replica)) ? idlePct(replica) / 100 : 0;
  const net = replica.fires.map((fire) => fire.cpuUs / 1000 - idleRate * fire.windowMs);
  return net.reduce((a, b) => a + b, 0) / Math.max(1, net.length);
}

function reportSections(steps: readonly Step[], fires: number): Section[] {
  const failedRow = (s: Step, width: number): string[] => [
    int(s.schedules),
    String(s.replicas),
    'failed',
    ...Array.from({ length: width - 3 }, () => ''),
  ];
  const each = (r: SchedulesResult, pick: (replica: SchedulerReplicaResult) => string): string =>
    r.replicaResults.map(pick).join(' / ');
  const rows = (width: number, row: (r: SchedulesResult) => string[]): string[][] =>
    steps.map((s) => (s.result ? [int(s.schedules), String(s.replicas), ...row(s.result)] : failedRow(s, width)));
  const ms = (value: number): string => int(value);
  const redisNet = (r: SchedulesResult): { total: number; scripts: number; by: Array<[string, number]> } => {
    const redis = r.redis;
    if (!redis) return { total: Number.NaN, scripts: Number.NaN, by: [] };
    const fires = r.expected;
    const commands = new Set([...Object.keys(redis.fireCalls), ...Object.keys(redis.idleCalls)]);
    const by: Array<[string, number]> = [];
    for (const command of commands) {
      const idleRate = redis.idleWindowMs > 0 ? (redis.idleCalls[command] ?? 0) / redis.idleWindowMs : 0;
      const net = ((redis.fireCalls[command] ?? 0) - idleRate * redis.fireWindowMs) / fires;
      if (net >= 0.05) by.push([command, net]);
    }
    by.sort((a, b) => b[1] - a[1]);
    const total = by.reduce((sum, [, n]) => sum + n, 0);
    const scripts = by.filter(([c]) => c === 'evalsha' || c === 'eval').reduce((sum, [, n]) => sum + n, 0);
    return { total, scripts, by };
  };
  return [
    {
      title: 'Fire-time accuracy: how late each (schedule, fire time) arrived, ms',
      note:
        `${fires} minute boundaries per step. received: first arrival at a plain amqplib consumer in the measuring ` +
        'process − the fire time in the message id; confirmed: the scheduler process’s `published` outcome (the ' +
        'broker confirmed the job) − the fire time; p50 / p99 / max over every (schedule, fire time) of the step. ' +
        'Event loop: the longest delay of a scheduler process’s event loop in a fire window (the worst process)',
      columns: [
        'schedules',
        'processes',
        'received',
        'received p50',
        'p99',
        'max',
        'confirmed p50',
        'p99',
        'max',
        'event loop delay, max',
      ],
      rows: rows(10, (r) => [
        int(r.received.count),
        ms(r.received.p50),
        ms(r.received.p99),
        ms(r.received.max),
        ms(r.confirmed.p50),
        ms(r.confirmed.p99),
        ms(r.confirmed.max),
        ms(Math.max(...r.replicaResults.flatMap((x) => x.fires.map((f) => f.loopDelayMaxMs)))),
      ]),
    },
    {
      title: 'Exactly once, by message id',
      note:
        'Every (schedule, fire time) of the measured boundaries: received once, never, or more than once; ' +
        'unexpected = an id that is no measured (schedule, fire time), or whose x-warren-schedule header is not its ' +
        'schedule. Outcomes: the fire outcomes of all the processes together (the losers of a lock count skipped_locked)',
      columns: ['schedules', 'processes', 'expected', 'once', 'missing', 'twice or more', 'unexpected', 'outcomes'],
      align: ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      rows: rows(8, (r) => [
        int(r.expected),
        int(r.distinct - r.duplicates),
        int(r.missing),
        int(r.duplicates),
        int(r.unexpected),
        Object.entries(r.outcomes)
          .sort((a, b) => b[1] - a[1])
          .map(([outcome, n]) => `${outcome} ${int(n)}`)
          .join(', '),
      ]),
    },
    {
      title: 'CPU of each scheduler process',
      note:
        'One value per process (a / b / c). Idle: % of one core between fires. Per fire: CPU time of one fire time ' +
        '(all the schedules), less the idle rate; per schedule: that / N, averaged over the processes. Last outcome: ' +
        'fire time → the last outcome of the fire in that process (mean of the fires). Ready: process start → ' +
        '`worker.start()` resolved',
      columns: [
        'schedules',
        'processes',
        'idle CPU, %',
        'CPU per fire, ms',
        'per schedule, µs',
        'last outcome, ms',
        'RSS, MB',
        'ready, ms',
      ],
      align: ['r', 'r', 'l', 'l', 'r', 'l', 'l', 'l'],
      rows: rows(8, (r) => [
        each(r, (x) => fixed(2)(idlePct(x))),
        each(r, (x) => fixed(0)(cpuPerFireMs(x))),
        fixed(0)(
          (r.replicaResults.reduce((sum, x) => sum + cpuPerFireMs(x), 0) / r.replicaResults.length / r.schedules) *
            1000,
        ),
        each(r, (x) => int(x.fires.reduce((sum, f) => sum + f.lastOutcomeMs, 0) / Math.max(1, x.fires.length))),
        each(r, (x) => fixed(0)(x.rssMb)),
        each(r, (x) => int(x.readyMs)),
      ]),
    },
    {
      title: 'Redis commands per fire (INFO commandstats)',
      note:
        'Per (schedule, fire time), net of the idle windows’ rate. Scripts: the EVALSHA/EVAL calls (redlock’s ' +
        'acquire, and its release after a lost vote); the others include what those scripts call inside ' +
        '(SELECT, EXISTS, SET; GET) and the scheduler’s own SET of the last fire. Idle: commands per second from ' +
        'everyone else on the shared Redis, subtracted',
      columns: ['schedules', 'processes', 'commands per fire', 'scripts per fire', 'by command', 'idle, commands/s'],
      align: ['r', 'r', 'r', 'r', 'l', 'r'],
      rows: rows(6, (r) => {
        const net = redisNet(r);
        const idle = r.redis
          ? Object.values(r.redis.idleCalls).reduce((a, b) => a + b, 0) / (r.redis.idleWindowMs / 1000)
          : Number.NaN;
        return [
          r.redis ? fixed(1)(net.total) : 'INFO unreadable',
          fixed(1)(net.scripts),
          net.by.map(([command, n]) => `${command} ${n.toFixed(1)}`).join(', '),
          fixed(1)(idle),
        ];
      }),
    },
  ];
}
