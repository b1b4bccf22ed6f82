import type { ScheduledTask } from 'node-cron';

/** What of a node-cron task finding the next fire needs: `match`, and node-cron 4's matcher where it has one. */
type MatchingTask = Pick<ScheduledTask, 'match'> & {
  readonly timeMatcher?: { getNextMatch?: (date: Date) => Date };
};

/** How far ahead a fire is looked for before a schedule is taken to have none (a 29 February one has one). */
const HORIZON_MS = 4 * 366 * 86_400_000;

/**
 * The first time after `afterMs` (strictly) at which a cron task fires, or `undefined` when none comes within four
 * years. node-cron 4's own matcher answers it directly (it walks the expression's fields); its answer is used only
 * when the task's public `match` confirms it. Otherwise it steps a second at a time, or a minute for expressions
 * without a seconds field, through `match`.
 */
export function nextFireAfter(task: MatchingTask, expression: string, afterMs: number): Date | undefined {
  const from = new Date(Math.floor(afterMs / 1000) * 1000);
  const walked = task.timeMatcher?.getNextMatch?.(from);
  if (walked instanceof Date && walked.getTime() > afterMs && task.match(walked)) return walked;
  const step = expression.trim().split(/\s+/).length >= 6 ? 1_000 : 60_000;
  for (let t = (Math.floor(afterMs / step) + 1) * step; t <= afterMs + HORIZON_MS; t += step) {
    const date = new Date(t);
    if (task.match(date)) return date;
  }
  return undefined;
}
