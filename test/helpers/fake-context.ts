import { pino } from 'pino';
import type { JobContext } from 'warren';

/** A job context for calling a handler directly in a unit test. */
export function fakeContext(overrides: Partial<JobContext> = {}): JobContext {
  return {
    jobId: 'job-1',
    jobType: 'test.job',
    attempt: 1,
    headers: {},
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    ...overrides,
  };
}
