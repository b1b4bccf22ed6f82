/**
 * Runs a handler and settles with it, or rejects with `onTimeout()`'s error after `timeoutMs`, whichever comes
 * first. A handler that returns synchronously costs no timer; an async one costs one timer and one promise (the
 * hot path: a `Promise.race` against a timeout promise cost three).
 */
export function runWithTimeout(run: () => unknown, timeoutMs: number, onTimeout: () => Error): Promise<void> | undefined {
  const result = run();
  if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return undefined;
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    (result as PromiseLike<unknown>).then(
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
