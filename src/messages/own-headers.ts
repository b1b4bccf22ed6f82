/**
 * Publish options that warren's own code made. `publish` refuses header names in warren's `x-warren-` space, so that
 * application code cannot pass for warren by accident (an `x-warren-attempt` shifts the attempt a handler sees, an
 * `x-warren-schedule` makes a job de-duplicated as a scheduled one); the scheduler's options carry
 * `x-warren-schedule` and are marked here. Membership is not data on the options: `SchedulerOptions#publish` keeps
 * its shape, and a callback that hands the options on unchanged to `WarrenClient#publish` keeps the mark.
 */
const marked = new WeakSet<object>();

/** Marks `options` as made by warren, so its `headers` may hold `x-warren-` names; returns them. */
export function ownHeaders<T extends object>(options: T): T {
  marked.add(options);
  return options;
}

/** True when {@link ownHeaders} marked `options`. */
export function hasOwnHeaders(options: object): boolean {
  return marked.has(options);
}
