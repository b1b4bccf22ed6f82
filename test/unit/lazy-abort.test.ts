import { describe, expect, it } from 'vitest';
import { LazyAbort } from '../../src/consumer/lazy-abort.js';

describe('LazyAbort', () => {
  it('aborts a signal built before or after the abort, with the reason, once', () => {
    const early = new LazyAbort();
    const signal = early.signal;
    const reason = new Error('timeout');
    early.abort(reason);
    early.abort(new Error('second'));
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);

    const late = new LazyAbort();
    late.abort(reason);
    expect(late.aborted).toBe(true);
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe(reason);
    expect(new LazyAbort().signal.aborted).toBe(false);
  });
});
