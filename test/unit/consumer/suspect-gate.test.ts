import { describe, expect, it } from 'vitest';
import { SuspectGate } from '../../../src/consumer/suspect-gate.js';

/** The steps to the next held suspect's run alone, with nothing in flight: the settles flushed first. */
function nextAlone(gate: SuspectGate<string>): ReturnType<SuspectGate<string>['next']> {
  expect(gate.next(0, false)).toEqual({ kind: 'flush' });
  gate.flushed();
  return gate.next(0, false);
}

/** A gate that isolated one suspect, ran it alone and resumed: now at prefetch 1. */
function afterASuspectRan(): SuspectGate<string> {
  const gate = new SuspectGate<string>();
  gate.admit('s1', true, false);
  gate.paused();
  nextAlone(gate);
  gate.ranAlone();
  expect(gate.next(0, false)).toEqual({ kind: 'resume', prefetch: 'one' });
  return gate;
}

describe('SuspectGate', () => {
  it('lets jobs that are not suspects flow, without pausing', () => {
    const gate = new SuspectGate<string>();
    expect(gate.admit('a', false, false)).toEqual({ action: 'run', pause: false });
    expect(gate.mode).toBe('flowing');
    expect(gate.next(0, false)).toEqual({ kind: 'wait' });
  });

  it('holds the first suspect and pauses; defers later ones; runs the held one only when paused and alone', () => {
    const gate = new SuspectGate<string>();
    expect(gate.admit('s1', true, false)).toEqual({ action: 'hold', pause: true });
    // Deliveries already on their way: jobs run, suspects are deferred.
    expect(gate.admit('j1', false, false)).toEqual({ action: 'run', pause: false });
    expect(gate.admit('s2', true, false)).toEqual({ action: 'defer', pause: false });
    expect(gate.next(0, false)).toEqual({ kind: 'wait' }); // the cancel is not confirmed yet
    gate.paused();
    expect(gate.next(1, false)).toEqual({ kind: 'wait' }); // j1 still in flight
    // j1's settle is sent, not yet received: the broker must have it before s1 runs.
    expect(gate.next(0, false)).toEqual({ kind: 'flush' });
    expect(gate.next(0, false)).toEqual({ kind: 'wait' }); // flushing
    gate.flushed();
    expect(gate.next(0, false)).toEqual({ kind: 'run-alone', item: 's1' });
    expect(gate.next(1, false)).toEqual({ kind: 'wait' }); // s1 running
    gate.ranAlone();
    expect(gate.next(0, false)).toEqual({ kind: 'resume', prefetch: 'one' });
    expect(gate.mode).toBe('cautious');
  });

  it('runs suspects one by one at prefetch 1, and widens again at the first job that is not one', () => {
    const gate = afterASuspectRan();
    expect(gate.admit('s2', true, false)).toEqual({ action: 'run', pause: false });
    expect(gate.admit('j1', false, false)).toEqual({ action: 'run', pause: true });
    expect(gate.mode).toBe('isolating');
    // A suspect that slips in before the cancel is confirmed is held, not deferred: nothing else is held.
    expect(gate.admit('s3', true, false)).toEqual({ action: 'hold', pause: false });
    gate.paused();
    expect(gate.next(1, false)).toEqual({ kind: 'wait' });
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's3' });
    gate.ranAlone();
    expect(gate.next(0, false)).toEqual({ kind: 'resume', prefetch: 'one' });
  });

  it('widens straight to full prefetch when no suspect came in meanwhile', () => {
    const gate = afterASuspectRan();
    gate.admit('j1', false, false);
    gate.paused();
    expect(gate.next(0, false)).toEqual({ kind: 'resume', prefetch: 'full' });
    expect(gate.mode).toBe('flowing');
  });

  it('keeps a suspect whose deferring copy failed for its own turn', () => {
    const gate = new SuspectGate<string>();
    gate.admit('s1', true, false);
    gate.admit('s2', true, false);
    expect(gate.deferFailed('s2')).toBe(false);
    expect(gate.held).toBe(2);
    gate.paused();
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's1' });
    gate.ranAlone();
    // s1's own settle comes before s2's run: flushed again.
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's2' });
  });

  it('isolates a suspect whose deferring copy failed after the isolation that deferred it was over', () => {
    const gate = afterASuspectRan();
    expect(gate.deferFailed('s2')).toBe(true); // the caller stops the flow
    expect(gate.mode).toBe('isolating');
    expect(gate.next(0, false)).toEqual({ kind: 'wait' });
    gate.paused();
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's2' });
  });

  it('flushes again when something was in flight after the last flush', () => {
    const gate = new SuspectGate<string>();
    gate.admit('s1', true, false);
    gate.paused();
    expect(gate.next(0, false)).toEqual({ kind: 'flush' });
    gate.flushed();
    // Something settled after the flush (a delivery given back at the end of a grace time, say).
    expect(gate.next(1, false)).toEqual({ kind: 'wait' });
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's1' });
  });

  it('does not count a flush that was asked for before the channel closed', () => {
    const gate = new SuspectGate<string>();
    gate.admit('s1', true, false);
    gate.paused();
    expect(gate.next(0, false)).toEqual({ kind: 'flush' });
    gate.reset();
    gate.admit('s1', true, false);
    gate.paused();
    gate.flushed(); // the old channel's flush, late: not asked for on this one
    expect(nextAlone(gate)).toEqual({ kind: 'run-alone', item: 's1' });
  });

  it('gives the held suspects back when shutdown begins during a flush', () => {
    const gate = new SuspectGate<string>();
    gate.admit('s1', true, false);
    gate.paused();
    expect(gate.next(0, false)).toEqual({ kind: 'flush' });
    expect(gate.next(0, true)).toEqual({ kind: 'wait' }); // flushing
    gate.flushed();
    expect(gate.next(0, true)).toEqual({ kind: 'give-back', items: ['s1'] });
  });

  it('at shutdown gives suspects back instead of running them, held ones included', () => {
    const gate = new SuspectGate<string>();
    expect(gate.admit('s0', true, true)).toEqual({ action: 'give-back', pause: false });
    expect(gate.admit('j0', false, true)).toEqual({ action: 'run', pause: false });
    gate.admit('s1', true, false);
    gate.paused();
    expect(gate.next(0, true)).toEqual({ kind: 'give-back', items: ['s1'] });
    expect(gate.mode).toBe('flowing');
  });

  it('starts afresh after its channel closed', () => {
    const gate = new SuspectGate<string>();
    gate.admit('s1', true, false);
    gate.reset();
    expect(gate.mode).toBe('flowing');
    expect(gate.held).toBe(0);
    expect(gate.admit('j', false, false)).toEqual({ action: 'run', pause: false });
  });
});
