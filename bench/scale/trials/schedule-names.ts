/** The one job type every schedule of the schedules scenario publishes (one queue, one consumer). */
export const SCHEDULE_JOB_TYPE = 'bench.tick';

/** `bench-tick-0000`, `bench-tick-0001`, …: the schedules of a step, the same in every replica. */
export function scheduleNames(count: number): string[] {
  const width = Math.max(4, String(count - 1).length);
  return Array.from({ length: count }, (_, i) => `bench-tick-${String(i).padStart(width, '0')}`);
}

/**
 * The cron expression that fires every `everySeconds`: `* * * * *` (each minute, the scenario's) for 60, a seconds
 * field (`*\/10 * * * * *`) for a divisor of 60 (quicker runs by hand).
 */
export function everyCron(everySeconds: number): string {
  if (everySeconds === 60) return '* * * * *';
  if (!Number.isInteger(everySeconds) || everySeconds < 1 || 60 % everySeconds !== 0)
    throw new Error(`--every-seconds must be 60 or a divisor of 60; got ${everySeconds}`);
  return `*/${everySeconds} * * * * *`;
}

/** The first fire time at least `leadMs` from `nowMs`, of a schedule firing every `periodMs` (epoch-aligned). */
export function firstFireAfter(nowMs: number, leadMs: number, periodMs: number): number {
  return Math.ceil((nowMs + leadMs) / periodMs) * periodMs;
}
