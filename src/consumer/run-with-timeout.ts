/** Whether a handler's result is a promise (or any thenable) to wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

/**
 * Settles with a handler's pending result, or rejects with `onTimeout()`'s error after `timeoutMs`, whichever comes
 * first: one timer and one promise (a `Promise.race` against a timeout promise cost three). Synchronous handlers
 * never get here: they cost no timer and no promise at all.
 */
export function withTimeout(pending: PromiseLike<unknown>, timeoutMs: number, onTimeout: () => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    pending.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
