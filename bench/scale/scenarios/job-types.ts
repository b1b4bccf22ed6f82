import { loadAverageText } from '../../lib/machine.js';
import { max, median, min } from '../../lib/stats.js';
import { fixed, int, type Section } from '../../lib/table.js';
import type { Check, ProfileSummary, ScaleContext, ScenarioReport } from '../context.js';
import { newNamespace } from '../namespace.js';
import type { JobTypesResult } from '../scale-types.js';
import { jobTypeNames } from '../trials/job-types.js';

/** Total throughput with the most job types must be at least this fraction of the throughput with the fewest. */
const THROUGHPUT_TARGET = 0.9;

/** The settings of the scenario. */
export interface JobTypeSettings {
  /** Job types in the one Worker. */
  readonly types: readonly number[];
  /** The backlog, spread evenly over the types. */
  readonly jobs: number;
  /** Prefetch (concurrency) of each job type. */
  readonly prefetch: number;
}

/**
 * One Worker with 1 / 10 / 50 job types (a consumer and a channel each): its start on an empty namespace and on a
 * waiting backlog, its RSS at rest and under load, and its total throughput over a backlog spread evenly over the
 * types, every type consuming at once.
 */
export async function jobTypesScenario(ctx: ScaleContext, settings: JobTypeSettings): Promise<ScenarioReport> {
  const started = performance.now();
  const loadStart = loadAverageText();
  const results = new Map<number, JobTypesResult[]>();
  const failures: string[] = [];
  const profiles: ProfileSummary[] = [];
  for (let round = 1; round <= ctx.rounds; round += 1) {
    // Rounds outermost: a drift in the machine's load spreads over every type count.
    const order = round % 2 === 1 ? settings.types : [...settings.types].reverse();
    for (const types of order) {
      const namespace = newNamespace('job-types');
      const outcome = await ctx.trial<JobTypesResult>(
        trialArgs(settings, types, namespace),
        `scale-job-types-t${types}-r${round}`,
      );
      await ctx.cleanup(namespace, jobTypeNames(types));
      if ('error' in outcome) {
        failures.push(`${types} job types, round ${round}: ${outcome.error}`);
        ctx.log(`job types ${types} round ${round}: FAILED: ${outcome.error}`);
        continue;
      }
      const r = outcome.result;
      results.set(types, [...(results.get(types) ?? []), r]);
      ctx.log(
        `job types ${String(types).padStart(2)} round ${round}: ready in ${int(r.coldStartMs)} ms (cold) / ` +
          `${int(r.warmStartMs)} ms (warm), RSS idle ${r.rssIdleMb.toFixed(1)} MB, ${int(r.jobsPerSec)} jobs/s, ` +
          `RSS peak ${r.rssPeakMb.toFixed(1)} MB`,
      );
    }
  }

  const values = (types: number, pick: (r: JobTypesResult) => number): number[] => (results.get(types) ?? []).map(pick);
  const med = (types: number, pick: (r: JobTypesResult) => number): number => median(values(types, pick));
  const cell = (types: number, pick: (r: JobTypesResult) => number, format: (value: number) => string): string => {
    const v = values(types, pick);
    return v.length === 0
      ? 'failed'
      : v.length === 1
        ? format(v[0] as number)
        : `${format(median(v))} (${format(min(v))}–${format(max(v))})`;
  };
  const fewest = settings.types[0] ?? 1;
  const most = settings.types.at(-1) ?? fewest;
  /** Growth per added job type between the fewest and the most, of a median. */
  const perType = (pick: (r: JobTypesResult) => number): number =>
    most === fewest ? Number.NaN : (med(most, pick) - med(fewest, pick)) / (most - fewest);
  const metric: Array<[string, (r: JobTypesResult) => number, (value: number) => string, string]> = [
    ['ready, cold start (declares the topology), ms', (r) => r.coldStartMs, int, 'ms'],
    ['ready, warm start (topology there, backlog waiting), ms', (r) => r.warmStartMs, int, 'ms'],
    ['RSS idle, MB (2 s after the cold start)', (r) => r.rssIdleMb, fixed(1), 'MB'],
    ['heap used idle, MB', (r) => r.heapUsedIdleMb, fixed(1), 'MB'],
    ['RSS peak under load, MB', (r) => r.rssPeakMb, fixed(1), 'MB'],
    ['heap used peak under load, MB', (r) => r.heapUsedPeakMb, fixed(1), 'MB'],
    ['total throughput, jobs/s', (r) => r.jobsPerSec, int, 'jobs/s'],
    ['CPU µs/job', (r) => r.cpuUsPerJob, fixed(1), 'µs'],
    ['slowest type at half the backlog, share of its jobs done', (r) => r.halfwayShareMin, fixed(2), ''],
    ['fastest type at half the backlog, share of its jobs done', (r) => r.halfwayShareMax, fixed(2), ''],
  ];
  const sections: Section[] = [
    {
      title: 'One Worker, N job types',
      note:
        `${int(settings.jobs)} jobs spread evenly over the types (pre-filled by a raw confirm channel), prefetch ` +
        `${settings.prefetch} per type, a no-op handler; throughput from the release of the held handlers (start() ` +
        `resolved) to the last success; median (min–max) of ${ctx.rounds}; the last column is the growth per added ` +
        `job type from ${fewest} to ${most}`,
      columns: ['', ...settings.types.map((t) => `${t} type${t === 1 ? '' : 's'}`), `per type (${fewest}→${most})`],
      rows: metric.map(([label, pick, format, unit]) => [
        label,
        ...settings.types.map((t) => cell(t, pick, format)),
        unit === '' || unit === 'jobs/s' || unit === 'µs'
          ? ''
          : `${perType(pick) >= 0 ? '+' : ''}${perType(pick).toFixed(unit === 'MB' ? 2 : 1)} ${unit}`,
      ]),
    },
  ];
  const wFew = med(fewest, (r) => r.jobsPerSec);
  const wMost = med(most, (r) => r.jobsPerSec);
  const checks: Check[] = [
    {
      name: `total throughput, ${most} job types against ${fewest}`,
      expected: `≥ ${THROUGHPUT_TARGET.toFixed(2)}× the throughput with ${fewest}`,
      measured: `${(wMost / wFew).toFixed(2)}× (${int(wMost)} vs ${int(wFew)} jobs/s)`,
      pass: Number.isFinite(wMost / wFew) ? wMost / wFew >= THROUGHPUT_TARGET : undefined,
    },
    {
      name: 'RSS growth per job type (idle)',
      expected: 'stated (no target)',
      measured: `${perType((r) => r.rssIdleMb).toFixed(2)} MB per type idle, ${perType((r) => r.rssPeakMb).toFixed(2)} MB per type under load`,
      pass: undefined,
    },
  ];
  if (ctx.profileMisses && !ctx.profileAll && checks[0]?.pass === false) {
    const namespace = newNamespace('job-types');
    profiles.push(
      await ctx.profile(`one Worker with ${most} job types`, `scale-job-types-t${most}`, [
        ctx.bundle,
        ...trialArgs(settings, most, namespace),
        ...ctx.trialArgs,
      ]),
    );
    await ctx.cleanup(namespace, jobTypeNames(most));
  }
  return {
    scenario: 'job-types',
    title: `Job types per worker: ${settings.types.join(' / ')} job types in one Worker`,
    measured: [
      `One Worker (public API: \`defineJob\` × N, \`Registry\`, \`Worker\`) with N = ${settings.types.join(' / ')} job ` +
        `types, prefetch ${settings.prefetch} each: one consumer and one channel per job type on the consuming connection.`,
      'Time to ready: `worker.start()` resolved, on an empty namespace (it declares every queue, exchange and binding) ' +
        'and again with the topology there and the backlog waiting.',
      'RSS idle 2 s after the cold start; RSS and heap peaks while consuming; total throughput over a backlog spread ' +
        'evenly over the types. The handlers hold their jobs until `start()` has resolved (consumers subscribe one ' +
        'after the other), so that the measured window has every type consuming at once.',
    ],
    command: 'npm run bench -- --scale --scale-scenarios job-types',
    sections,
    checks,
    notes: failures,
    profiles,
    seconds: (performance.now() - started) / 1000,
    loadStart,
    loadEnd: loadAverageText(),
  };
}

function trialArgs(settings: JobTypeSettings, types: number, namespace: string): string[] {
  return [
    '--mode',
    'job-types',
    '--types',
    String(types),
    '--jobs',
    String(settings.jobs),
    '--prefetch',
    String(settings.prefetch),
    '--namespace',
    namespace,
  ];
}
