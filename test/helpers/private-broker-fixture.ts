import { afterAll, beforeAll } from 'vitest';
import { startPrivateBroker, type PrivateBroker, type PrivateBrokerOptions } from './private-broker.js';

/** A private node for the tests of one describe block; see {@link usePrivateBroker}. */
export interface PrivateBrokerFixture {
  /** The node (started before the block's tests). */
  node(): PrivateBroker;
  /** Closes something a test opened on the node (a worker, a client) after the block, before the node stops. */
  onStop(close: () => Promise<unknown>): void;
}

/**
 * Starts a private node before the tests of the enclosing describe block and stops it after them, closing first what
 * they registered with `onStop` (the latest first), each step on its own: a failed one must not leave the node
 * running.
 */
export function usePrivateBroker(options: PrivateBrokerOptions = {}): PrivateBrokerFixture {
  let broker: PrivateBroker | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    broker = await startPrivateBroker(options);
  });
  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    await broker?.stop();
  });
  return {
    node: () => {
      if (!broker) throw new Error('the private node is not started (use node() inside a test)');
      return broker;
    },
    onStop: (close) => void closers.push(close),
  };
}
