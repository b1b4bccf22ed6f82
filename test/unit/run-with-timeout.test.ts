import { describe, expect, it } from 'vitest';
import { runWithTimeout } from '../../src/consumer/run-with-timeout.js';

describe('runWithTimeout', () => {
  it('returns nothing for a synchronous handler and lets its throw through', () => {
    expect(runWithTimeout(() => 42, 10, () => new Error('late'))).toBeUndefined();
    expect(() => runWithTimeout(() => { throw new TypeError('sync'); }, 10, () => new Error('late'))).toThrow('sync');
  });

  it('settles with an async handler, or with the timeout error first', async () => {
    await expect(runWithTimeout(() => Promise.resolve('ok'), 1_000, () => new Error('late'))).resolves.toBeUndefined();
    await expect(runWithTimeout(() => Promise.reject(new Error('boom')), 1_000, () => new Error('late'))).rejects.toThrow('boom');
    let timedOut = 0;
    const never = runWithTimeout(() => new Promise(() => {}), 20, () => {
      timedOut += 1;
      return new Error('late');
    });
    await expect(never).rejects.toThrow('late');
    expect(timedOut).toBe(1);
  });
});
