import { parseDuration } from '../config/duration.js';
import { invalidJobType } from '../config/name-rules.js';
import type { QueueStatus } from '../dlq/queue-status.js';
import { deadQueue, jobQueue, retryQueue, tierName } from '../topology/names.js';
import type { ManagedQueue, QueueListing, QueueProbe, UiJob } from './ui-sources.js';

/** One queue's figures on the overview. `undefined` is "not known" (shown as such), never 0. */
export interface QueueFigures {
  readonly name: string;
  /** False when the queue does not exist; undefined when that could not be asked. */
  readonly declared: boolean | undefined;
  /** Ready messages, from a passive declare (exact at the moment of reading). */
  readonly ready: number | undefined;
  /** Held by consumers, not yet acknowledged: from the management API only. */
  readonly unacknowledged: number | undefined;
  /** Ready plus unacknowledged, when both are known. */
  readonly depth: number | undefined;
  readonly consumers: number | undefined;
  /** Per second, from the management API's samples. */
  readonly publishRate: number | undefined;
  readonly deliverRate: number | undefined;
  readonly ackRate: number | undefined;
}

/** A job type on the overview. */
export interface OverviewRow {
  readonly jobType: string;
  /** In the handlers module; false for one found only by its queues. */
  readonly registered: boolean;
  readonly job: QueueFigures;
  readonly dead: QueueFigures;
  /** The tiers its retries wait in (names such as `30s`); empty for a job type known only by its queues. */
  readonly tiers: readonly string[];
}

/** A retry tier: one queue shared by every job type of the namespace. */
export interface TierFigures extends QueueFigures {
  readonly tier: string;
  /** The registered job types whose retries use it. */
  readonly usedBy: readonly string[];
}

/** Where the unacknowledged counts, the rates and the job types not in the handlers module come from. */
export type ManagementState =
  | { readonly state: 'off' }
  | { readonly state: 'used'; readonly where: string }
  | { readonly state: 'unreachable'; readonly where: string; readonly reason: string };

/** The overview page's data. */
export interface Overview {
  readonly namespace: string;
  readonly rows: readonly OverviewRow[];
  readonly tiers: readonly TierFigures[];
  readonly management: ManagementState;
  /** What could not be read (RabbitMQ unreachable, …), each once. */
  readonly problems: readonly string[];
}

/** What a passive declare answered for each queue asked about: its status, `undefined` (absent), or the failure. */
export type ProbeResults = ReadonlyMap<string, QueueStatus | undefined | Error>;

/** The job types and retry tiers named by a namespace's queues (`<ns>.job.<type>`, `<ns>.dead.<type>`, `<ns>.retry.<tier>`). Pure. */
export function namesFromQueues(
  namespace: string,
  queueNames: readonly string[],
): { jobTypes: string[]; tiers: string[] } {
  const jobTypes = new Set<string>();
  const tiers = new Set<string>();
  const job = jobQueue(namespace, '');
  const dead = deadQueue(namespace, '');
  const retry = tierQueue(namespace, '');
  for (const name of queueNames) {
    const type = name.startsWith(job) ? name.slice(job.length) : name.startsWith(dead) ? name.slice(dead.length) : '';
    if (type !== '' && invalidJobType(type) === undefined) jobTypes.add(type);
    if (name.startsWith(retry) && parseDuration(name.slice(retry.length)) !== undefined)
      tiers.add(name.slice(retry.length));
  }
  return { jobTypes: [...jobTypes], tiers: [...tiers] };
}

/** The queue of a tier named like `30s` (`retryQueue` by the tier's name rather than its delay); `''` gives the prefix. */
export function tierQueue(namespace: string, tier: string): string {
  const sample = 1_000;
  return `${retryQueue(namespace, sample).slice(0, -tierName(sample).length)}${tier}`;
}

/** Every queue the overview asks about, for the probes. Pure. */
export function overviewQueues(namespace: string, jobTypes: readonly string[], tiers: readonly string[]): string[] {
  return [
    ...jobTypes.flatMap((type) => [jobQueue(namespace, type), deadQueue(namespace, type)]),
    ...tiers.map((tier) => tierQueue(namespace, tier)),
  ];
}

/**
 * The overview from what was read: the registered job types first (in registration order), then those found only by
 * their queues (sorted); tiers by delay. Ready counts and consumers come from the probes, which are exact; the
 * management API adds the unacknowledged counts and the rates. Pure.
 */
export function buildOverview(input: {
  readonly namespace: string;
  readonly jobs: readonly UiJob[];
  readonly probes: ProbeResults;
  readonly managed: readonly ManagedQueue[] | undefined;
  readonly management: ManagementState;
  readonly problems?: readonly string[];
}): Overview {
  const { namespace, jobs, probes, managed } = input;
  const byName = new Map((managed ?? []).map((queue) => [queue.name, queue]));
  const found = namesFromQueues(namespace, [...byName.keys()]);
  const registered = new Set(jobs.map((job) => job.jobType));
  const problems = new Set(input.problems ?? []);
  const figures = (name: string): QueueFigures => {
    const probe = probes.get(name);
    const listed = byName.get(name);
    if (probe instanceof Error) problems.add(probe.message);
    const status = probe instanceof Error ? undefined : probe;
    const declared = probe instanceof Error ? (listed === undefined ? undefined : true) : status !== undefined;
    const ready = status?.messages ?? listed?.ready;
    const unacknowledged = listed?.unacknowledged;
    return {
      name,
      declared,
      ready,
      unacknowledged,
      depth: ready === undefined || unacknowledged === undefined ? undefined : ready + unacknowledged,
      consumers: status?.consumers ?? listed?.consumers,
      publishRate: listed?.publishRate,
      deliverRate: listed?.deliverRate,
      ackRate: listed?.ackRate,
    };
  };
  const rows: OverviewRow[] = [
    ...jobs.map((job) => ({
      jobType: job.jobType,
      registered: true,
      job: figures(jobQueue(namespace, job.jobType)),
      dead: figures(deadQueue(namespace, job.jobType)),
      tiers: [...new Set(job.tiersMs)].map((ms) => tierName(ms)),
    })),
    ...found.jobTypes
      .filter((type) => !registered.has(type))
      .sort()
      .map((type) => ({
        jobType: type,
        registered: false,
        job: figures(jobQueue(namespace, type)),
        dead: figures(deadQueue(namespace, type)),
        tiers: [],
      })),
  ];
  const tierNames = new Set([...jobs.flatMap((job) => job.tiersMs.map((ms) => tierName(ms))), ...found.tiers]);
  const tiers = [...tierNames]
    .sort((a, b) => (parseDuration(a) ?? 0) - (parseDuration(b) ?? 0))
    .map((tier) => ({
      ...figures(tierQueue(namespace, tier)),
      tier,
      usedBy: jobs.filter((job) => job.tiersMs.some((ms) => tierName(ms) === tier)).map((job) => job.jobType),
    }));
  return { namespace, rows, tiers, management: input.management, problems: [...problems] };
}

/** At most this many passive declares at once. */
const PROBE_CONCURRENCY = 8;

/**
 * Reads the overview: the management API's listing first (when there is one: it names the queues that exist), then
 * a passive declare of every queue of every job type and tier. Never throws: what cannot be read is a problem on
 * the page.
 */
export async function loadOverview(
  namespace: string,
  jobs: readonly UiJob[],
  probe: QueueProbe,
  listing: QueueListing | undefined,
): Promise<Overview> {
  let managed: readonly ManagedQueue[] | undefined;
  let management: ManagementState = { state: 'off' };
  if (listing !== undefined) {
    try {
      managed = await listing.queues(namespace);
      management = { state: 'used', where: listing.describe };
    } catch (error) {
      management = { state: 'unreachable', where: listing.describe, reason: (error as Error).message };
    }
  }
  const found = namesFromQueues(
    namespace,
    (managed ?? []).map((queue) => queue.name),
  );
  const jobTypes = [...new Set([...jobs.map((job) => job.jobType), ...found.jobTypes])];
  const tiers = [...new Set([...jobs.flatMap((job) => job.tiersMs.map((ms) => tierName(ms))), ...found.tiers])];
  const probes = await probeAll(probe, overviewQueues(namespace, jobTypes, tiers));
  return buildOverview({ namespace, jobs, probes, managed, management });
}

/**
 * Probes every queue, a few at a time. The first failure ends the probing (RabbitMQ is unreachable, most likely): the
 * queues not probed yet share it, so that a broker that is down costs one wait, not one per queue.
 */
async function probeAll(probe: QueueProbe, queues: readonly string[]): Promise<ProbeResults> {
  const results = new Map<string, QueueStatus | undefined | Error>();
  let next = 0;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (next < queues.length) {
      const queue = queues[next++] as string;
      if (failure !== undefined) {
        results.set(queue, failure);
        continue;
      }
      try {
        results.set(queue, await probe.status(queue));
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
        results.set(queue, failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, queues.length) }, worker));
  return results;
}
