import { DEFAULT_CONFIG } from '../../../src/config/config-options.js';
import { JOB_TYPE } from '../../lib/payload.js';
import { loadAverageText } from '../../lib/machine.js';
import { max, median, min } from '../../lib/stats.js';
import { fixed, int, type Section } from '../../lib/table.js';
import type { Check, ProfileSummary, ScaleContext, ScenarioReport } from '../context.js';
import { newNamespace } from '../namespace.js';
import type { PublishResult } from '../scale-types.js';

/**
 * What is run: warren with its defaults, the raw confirm channel, and, where the concurrency is above warren's
 * default `publishBufferSize`, warren again with `publishBufferSize` = the concurrency (not a target: it shows what
 * the bound does).
 */
const VARIANTS = ['warren', 'amqplib', 'warren, buffer = C'] as const;
type Variant = (typeof VARIANTS)[number];
/** The main bench's publish target, applied here at every concurrency. */
const THROUGHPUT_TARGET = 0.9;

/** The settings of the scenario. */
export interface PublishSettings {
  /** Publishes awaited at once. */
  readonly concurrencies: readonly number[];
}

/**
 * Jobs per trial at a concurrency: enough for several waves of the window and a measurable second or more, few
 * enough at concurrency 1 (one confirm round trip each) to stay within seconds.
 */
export function jobsAt(concurrency: number): number {
  if (concurrency <= 1) return 2_000;
  return Math.max(20_000, 5 * concurrency);
}

/** The variants run at a concurrency. */
function variantsAt(concurrency: number): readonly Variant[] {
  return concurrency > DEFAULT_CONFIG.publishBufferSize ? VARIANTS : ['warren', 'amqplib'];
}

interface Trial {
  readonly variant: Variant;
  readonly concurrency: number;
  readonly round: number;
  readonly result: PublishResult | undefined;
  readonly error: string | undefined;
}

/**
 * N publishes from one client with 1 / 100 / 10,000 awaited at once: warren's `WarrenClient.publish` against a raw
 * confirm channel, each trial a process of its own, the order rotating each round. Every promise must settle, each
 * one resolved must be a message in the queue, none may reject.
 */
export async function publishScenario(ctx: ScaleContext, settings: PublishSettings): Promise<ScenarioReport> {
  const started = performance.now();
  const loadStart = loadAverageText();
  const trials: Trial[] = [];
  const profiles: ProfileSummary[] = [];
  for (const concurrency of settings.concurrencies) {
    const jobs = jobsAt(concurrency);
    const variants = variantsAt(concurrency);
    for (let round = 1; round <= ctx.rounds; round += 1) {
      const order = variants.map((_, i) => variants[(i + round - 1) % variants.length] as Variant);
      for (const variant of order) {
        const namespace = newNamespace('publish-concurrency');
        const outcome = await ctx.trial<PublishResult>(
          trialArgs(variant, concurrency, jobs, namespace),
          `scale-publish-${variant.replace(/\W+/g, '-')}-c${concurrency}-r${round}`,
        );
        await ctx.cleanup(namespace, [JOB_TYPE]);
        const result = 'result' in outcome ? outcome.result : undefined;
        trials.push({ variant, concurrency, round, result, error: 'error' in outcome ? outcome.error : undefined });
        ctx.log(
          `publish concurrency ${int(concurrency)} round ${round} ${variant.padEnd(18)} ` +
            (result
              ? `${int(result.jobsPerSec)} jobs/s, ${int(result.resolved)} resolved, ${int(result.rejected)} rejected, ` +
                `${int(result.queued)} queued, RSS peak ${result.rssPeakMb.toFixed(0)} MB`
              : `FAILED: ${'error' in outcome ? outcome.error : ''}`),
        );
      }
    }
  }

  const of = (variant: Variant, concurrency: number): PublishResult[] =>
    trials.flatMap((t) => (t.variant === variant && t.concurrency === concurrency && t.result ? [t.result] : []));
  const ran = (variant: Variant, concurrency: number): boolean =>
    trials.some((t) => t.variant === variant && t.concurrency === concurrency);
  const cell = (variant: Variant, c: number, pick: (r: PublishResult) => number, format: (v: number) => string) => {
    if (!ran(variant, c)) return '—';
    const values = of(variant, c).map(pick);
    return values.length === 0
      ? 'failed'
      : values.length === 1
        ? format(values[0] as number)
        : `${format(median(values))} (${format(min(values))}–${format(max(values))})`;
  };
  const rows = (label: string, pick: (r: PublishResult) => number, format: (value: number) => string): string[][] =>
    settings.concurrencies.map((c) => [`${label} @ ${int(c)}`, ...VARIANTS.map((v) => cell(v, c, pick, format))]);
  const ratio = (variant: Variant, c: number): number =>
    median(of(variant, c).map((r) => r.jobsPerSec)) / median(of('amqplib', c).map((r) => r.jobsPerSec));
  const times = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '—');
  const columns = ['', 'warren', 'amqplib', `warren, publishBufferSize = C`];
  const sections: Section[] = [
    {
      title: 'Publish throughput by concurrency, confirmed jobs/s',
      note:
        `N publishes (${settings.concurrencies.map((c) => `${int(jobsAt(c))} at ${int(c)}`).join(', ')}) through C ` +
        `lanes each awaiting its publish, into a declared quorum queue with no consumer; confirmed publishes / (first ` +
        `publish → last settled); median (min–max) of ${ctx.rounds}. The column publishBufferSize = C (not a target) runs warren with ` +
        `publishBufferSize = C (default ${int(DEFAULT_CONFIG.publishBufferSize)}), where C is above the default`,
      columns: ['concurrency', ...columns.slice(1), 'warren/amqplib', 'buffer = C/amqplib'],
      rows: settings.concurrencies.map((c) => [
        int(c),
        ...VARIANTS.map((v) => cell(v, c, (r) => r.jobsPerSec, int)),
        times(ratio('warren', c)),
        times(ratio('warren, buffer = C', c)),
      ]),
    },
    {
      title: 'Every promise, by concurrency',
      note:
        'Per trial (medians of the rounds): the most publish promises outstanding at once, those that resolved and ' +
        'that rejected, and the messages the queue held afterwards',
      columns,
      rows: [
        ...rows('outstanding at once, most', (r) => r.maxOutstanding, int),
        ...rows('resolved', (r) => r.resolved, int),
        ...rows('rejected', (r) => r.rejected, int),
        ...rows('in the queue', (r) => r.queued, int),
      ],
    },
    {
      title: 'Memory of the publishing process, MB',
      note: 'Peaks sampled every 50 ms over the publishing; median (min–max) of the rounds',
      columns,
      rows: [
        ...rows('RSS peak', (r) => r.rssPeakMb, fixed(1)),
        ...rows('heap used, peak', (r) => r.heapUsedPeakMb, fixed(1)),
        ...rows('CPU µs/job', (r) => r.cpuUsPerJob, fixed(1)),
      ],
    },
  ];

  const checks: Check[] = [];
  const notes: string[] = [];
  for (const c of settings.concurrencies) {
    const jobs = jobsAt(c);
    for (const variant of variantsAt(c)) {
      const all = trials.filter((t) => t.variant === variant && t.concurrency === c);
      const clean = all.filter(
        (t) => t.result && t.result.resolved === jobs && t.result.rejected === 0 && t.result.queued === jobs,
      );
      const worst = all
        .map((t) => t.result)
        .filter((r): r is PublishResult => r !== undefined)
        .sort((a, b) => a.resolved - b.resolved)[0];
      const measured =
        clean.length === all.length
          ? `as expected in ${all.length} of ${all.length} rounds`
          : worst
            ? `${clean.length} of ${all.length} rounds clean; worst: ${int(worst.resolved)} resolved, ${int(worst.rejected)} rejected (${Object.entries(
                worst.errors,
              )
                .map(([code, n]) => `${int(n)} ${code}`)
                .join(', ')}), ${int(worst.queued)} in the queue`
            : `failed: ${all.find((t) => t.error)?.error ?? 'no result'}`;
      const rejected = all.filter((t) => t.result?.firstError !== undefined);
      if (rejected.length > 0) {
        notes.push(
          `${variant} at concurrency ${int(c)}: rejected ${rejected.map((t) => int(t.result?.rejected ?? 0)).join(', ')} ` +
            `of ${int(jobs)} in rounds ${rejected.map((t) => t.round).join(', ')}; the first of round ` +
            `${rejected[0]?.round}: “${rejected[0]?.result?.firstError ?? ''}”`,
        );
      }
      for (const t of all) {
        if (t.error !== undefined)
          notes.push(`${variant} at concurrency ${int(c)}, round ${t.round} failed: ${t.error}`);
      }
      if (variant === 'warren, buffer = C') {
        notes.push(
          `warren with publishBufferSize ${int(c)} at concurrency ${int(c)} (not a target): ${measured}; ` +
            `${times(ratio(variant, c))} amqplib's throughput.`,
        );
        continue;
      }
      checks.push({
        name: `${variant}: every publish confirmed at concurrency ${int(c)}`,
        expected: `${int(jobs)} resolved, 0 rejected, ${int(jobs)} in the queue (each round)`,
        measured,
        pass: all.length === 0 ? undefined : clean.length === all.length,
      });
    }
    const w = median(of('warren', c).map((r) => r.jobsPerSec));
    const a = median(of('amqplib', c).map((r) => r.jobsPerSec));
    checks.push({
      name: `publish throughput at concurrency ${int(c)}`,
      expected: `≥ ${THROUGHPUT_TARGET.toFixed(2)}× amqplib (the main bench's publish target)`,
      measured: `${(w / a).toFixed(2)}× (${int(w)} vs ${int(a)} confirmed jobs/s)`,
      pass: Number.isFinite(w / a) ? w / a >= THROUGHPUT_TARGET : undefined,
    });
  }
  if (ctx.profileMisses && !ctx.profileAll) {
    for (const c of settings.concurrencies) {
      const missed = checks.some((check) => check.pass === false && check.name.endsWith(` ${int(c)}`));
      if (!missed) continue;
      const namespace = newNamespace('publish-concurrency');
      profiles.push(
        await ctx.profile(`warren publish at concurrency ${int(c)}`, `scale-publish-warren-c${c}`, [
          ctx.bundle,
          ...trialArgs('warren', c, jobsAt(c), namespace),
          ...ctx.trialArgs,
        ]),
      );
      await ctx.cleanup(namespace, [JOB_TYPE]);
    }
  }
  return {
    scenario: 'publish-concurrency',
    title: `Publish concurrency: ${settings.concurrencies.map(int).join(' / ')} outstanding publishes from one client`,
    measured: [
      `One process, one client (warren \`WarrenClient.publish\` with its defaults, or a raw amqplib confirm channel), ` +
        `C lanes each awaiting its publish before the next, so that C promises are outstanding at once, ` +
        `C = ${settings.concurrencies.map(int).join(' / ')}.`,
      'Throughput (confirmed publishes per second), peak RSS and V8 heap in use, CPU per job; every promise counted ' +
        '(resolved, or rejected by error code: a lane goes on after a rejection), and the queue depth afterwards.',
      `The same ~200-byte JSON payload, quorum queue and message properties as the main bench's publish scenario. ` +
        `Where C is above warren's default publishBufferSize (${int(DEFAULT_CONFIG.publishBufferSize)}), warren runs ` +
        'a third time with publishBufferSize = C (`WARREN_PUBLISH_BUFFER_SIZE`), for comparison only.',
    ],
    command: 'npm run bench -- --scale --scale-scenarios publish-concurrency',
    sections,
    checks,
    notes,
    profiles,
    seconds: (performance.now() - started) / 1000,
    loadStart,
    loadEnd: loadAverageText(),
  };
}

function trialArgs(variant: Variant, concurrency: number, jobs: number, namespace: string): string[] {
  return [
    '--mode',
    'publish',
    '--system',
    variant === 'amqplib' ? 'amqplib' : 'warren',
    ...(variant === 'warren, buffer = C' ? ['--publish-buffer-size', String(concurrency)] : []),
    '--concurrency',
    String(concurrency),
    '--jobs',
    String(jobs),
    '--namespace',
    namespace,
  ];
}
