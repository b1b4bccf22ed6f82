import { describe, expect, it } from 'vitest';
import { ConnectionError } from 'warren';
import { formatConnectRetry } from '../../../src/cli/cli-context.js';

describe('formatConnectRetry', () => {
  it('says why, then which attempt and how far into the wait, in whole seconds', () => {
    const retry = { purpose: 'consume', attempt: 3, elapsedMs: 4_321, timeoutMs: 15_000 } as const;
    expect(
      formatConnectRetry({ ...retry, error: new ConnectionError('RabbitMQ at 127.0.0.1:5679 is not reachable') }),
    ).toBe('RabbitMQ at 127.0.0.1:5679 is not reachable; retrying (attempt 3, 4 s of 15 s)');
    expect(formatConnectRetry({ ...retry, error: new ConnectionError("is this RabbitMQ's port?") })).toBe(
      "is this RabbitMQ's port? Retrying (attempt 3, 4 s of 15 s)",
    );
  });
});
