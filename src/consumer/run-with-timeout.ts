/** The timers a timeout runs on: the global ones, or a test harness's virtual clock. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's own timers. */
export const REAL_TIMERS: Timers = Object.freeze({
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout),
});

/** Whether a handler's result is a promise (or any thenable) to wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

/**
 * Settles with a pending result (a handler's, an async schema's), or rejects with `onTimeout()`'s error after `timeoutMs`, whichever comes
 * first: one timer and one promise (a `Promise.race` against a timeout promise cost three). Synchronous handlers
 * never get here: they cost no timer and no promise at all.
 */
export function withTimeout<T>(
  pending: PromiseLike<T>,
  timeoutMs: number,
  onTimeout: () => Error,
  timers: Timers = REAL_TIMERS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.setTimeout(() => reject(onTimeout()), timeoutMs);
    pending.then(
      (value) => {
        timers.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        timers.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
