import { describe, expect, it } from 'vitest';
import { isThenable, withTimeout } from '../../src/consumer/run-with-timeout.js';

describe('isThenable', () => {
  it('tells a pending result from a synchronous one', () => {
    expect(isThenable(Promise.resolve(1))).toBe(true);
    expect(isThenable({ then: () => {} })).toBe(true);
    expect(isThenable(undefined)).toBe(false);
    expect(isThenable(null)).toBe(false);
    expect(isThenable(42)).toBe(false);
    expect(isThenable({ then: 1 })).toBe(false);
  });
});

describe('withTimeout', () => {
  it('settles with the pending result (its value passed on), or with the timeout error first', async () => {
    await expect(withTimeout(Promise.resolve('ok'), 1_000, () => new Error('late'))).resolves.toBe('ok');
    await expect(withTimeout(Promise.reject(new Error('boom')), 1_000, () => new Error('late'))).rejects.toThrow(
      'boom',
    );
    let timedOut = 0;
    const never = withTimeout(new Promise(() => {}), 20, () => {
      timedOut += 1;
      return new Error('late');
    });
    await expect(never).rejects.toThrow('late');
    expect(timedOut).toBe(1);
  });
});
