import { pino } from 'pino';
import type { JobContext } from 'warren';
import { ChildJobs } from '../../src/consumer/child-jobs.js';

/** A job context for calling a handler directly in a unit test. */
export function fakeContext(overrides: Partial<JobContext> = {}): JobContext {
  const children = new ChildJobs(overrides.jobId ?? 'job-1');
  return {
    publish: (jobType, payload, options) => children.add(jobType, payload, options),
    jobId: 'job-1',
    jobType: 'test.job',
    attempt: 1,
    headers: {},
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    ...overrides,
  };
}
