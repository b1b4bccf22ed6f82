/**
 * The `cluster` scenario of `npm run bench`: warren end to end (e2e at one prefetch, and latency) on a private
 * 3-node RabbitMQ cluster (quorum queues replicated on all three, warren given every node) against a private single
 * node of the same version and settings, the two alternating round by round. Private nodes (test/helpers), so the
 * machine's own broker is untouched; it needs what the chaos tests need (the 3.10 server scripts).
 */
import { startPrivateBroker } from '../test/helpers/private-broker.js';
import { startPrivateCluster } from '../test/helpers/private-cluster.js';
import { median, max, min } from './lib/stats.js';
import { fixed, int, type Section } from './lib/table.js';
import type { TrialResult } from './lib/trial-types.js';
import type { Group, Run, Settings } from './run.js';

/** Runs one trial (run.ts's runner) against the settings' `amqpUrl`. */
export type TrialRunner = (s: Settings, group: Group, round: number) => Promise<Run>;

interface Site {
  readonly name: string;
  readonly amqpUrl: string;
}

/** The cluster scenario's trials and its report section. */
export async function runClusterScenario(
  s: Settings,
  runTrial: TrialRunner,
  log: (line: string) => void,
): Promise<{ runs: Run[]; section: Section }> {
  log('cluster: starting a private single node and a private 3-node cluster (3.10)');
  const single = await startPrivateBroker();
  const cluster = await startPrivateCluster({ size: 3 }).catch(async (error: unknown) => {
    await single.stop();
    throw error;
  });
  const sites: Site[] = [
    { name: 'single node', amqpUrl: single.url },
    { name: '3-node cluster', amqpUrl: cluster.amqpUrl },
  ];
  const prefetch = s.consumePrefetch;
  const groups: Group[] = [
    {
      key: `e2e@${prefetch}`,
      scenario: 'e2e',
      prefetch,
      rounds: s.pairs,
      args: ['--jobs', String(s.jobs), '--window', String(s.window)],
      timeoutSeconds: Math.max(120, Math.ceil(s.jobs / 100)),
    },
    {
      key: 'latency',
      scenario: 'latency',
      prefetch,
      rounds: s.pairs,
      args: ['--rate', String(s.rate), '--seconds', String(s.seconds)],
      timeoutSeconds: s.seconds + 120,
    },
  ];
  const runs: Array<Run & { site: string }> = [];
  try {
    for (const group of groups) {
      for (let round = 1; round <= group.rounds; round += 1) {
        // Alternate which site goes first each round.
        const order = round % 2 === 1 ? sites : [...sites].reverse();
        for (const site of order) {
          const run = await runTrial({ ...s, amqpUrl: site.amqpUrl }, group, round);
          runs.push({ ...run, site: site.name });
          log(`cluster: ${group.key} round ${round} on the ${site.name}: ${describe(run.result, run.error)}`);
        }
      }
    }
  } finally {
    await cluster.stop();
    await single.stop();
  }
  const of = (site: string, key: string, pick: (r: TrialResult) => number | undefined): number[] =>
    runs
      .filter((run) => run.site === site && run.group.key === key && run.result)
      .map((run) => pick(run.result as TrialResult))
      .filter((value): value is number => value !== undefined);
  const cell = (values: number[], format: (value: number) => string): string =>
    values.length === 0 ? 'failed' : `${format(median(values))} (${format(min(values))}–${format(max(values))})`;
  const ratio = (key: string, pick: (r: TrialResult) => number | undefined): string => {
    const a = of('3-node cluster', key, pick);
    const b = of('single node', key, pick);
    return a.length === 0 || b.length === 0 ? 'n/a' : `${(median(a) / median(b)).toFixed(2)}×`;
  };
  const metrics: Array<[string, string, (r: TrialResult) => number | undefined, (value: number) => string]> = [
    [`e2e jobs/s (prefetch ${prefetch}, ${int(s.jobs)} jobs)`, `e2e@${prefetch}`, (r) => r.jobsPerSec, int],
    ['latency p50 ms', 'latency', (r) => r.latency?.p50Ms, fixed(2)],
    ['latency p99 ms', 'latency', (r) => r.latency?.p99Ms, fixed(2)],
    [`latency achieved jobs/s (asked ${int(s.rate)})`, 'latency', (r) => r.latency?.achievedRate, int],
  ];
  const section: Section = {
    title: 'warren on a 3-node cluster against a single node (cluster scenario)',
    note: `Private RabbitMQ 3.10 nodes on this machine (all three cluster nodes share its ${'CPU'}s), quorum queues with a replica on every node, warren given every node's URL; median (min–max) of ${s.pairs}`,
    columns: ['', 'single node', '3-node cluster', 'cluster/single'],
    rows: metrics.map(([label, key, pick, format]) => [
      label,
      cell(of('single node', key, pick), format),
      cell(of('3-node cluster', key, pick), format),
      ratio(key, pick),
    ]),
  };
  return { runs, section };
}

function describe(result: TrialResult | undefined, error: string | undefined): string {
  if (!result) return `FAILED: ${error ?? 'unknown error'}`;
  if (result.latency) return `p50 ${result.latency.p50Ms.toFixed(2)} ms, p99 ${result.latency.p99Ms.toFixed(2)} ms`;
  return `${int(result.jobsPerSec)} jobs/s`;
}
