import { createTestHarness, type TestHarness } from 'warren/testing';
import { jobContract } from '../../helpers/job-contract.js';

// The job contract on the local job queue, on its virtual clock: every timing is exact (no tolerance).
let harness: TestHarness | undefined;
const started = (): TestHarness => {
  if (!harness) throw new Error('the harness is not started');
  return harness;
};

jobContract({
  name: 'the test harness (virtual clock)',
  toleranceMs: 0,
  start(jobs, schedules, config, middleware) {
    harness = createTestHarness({ handlers: jobs, schedules, config, middleware });
    return Promise.resolve();
  },
  publish: (jobType, payload, options) => started().publish(jobType, payload, options),
  until: (what, check) =>
    started()
      .waitFor(check, { timeoutMs: '1h' })
      .catch((error: Error) => {
        throw new Error(`${what}: ${error.message}`);
      }),
  now: () => started().now().getTime(),
  outcomes: (jobType) =>
    started()
      .handled(jobType)
      .map((h) => h.outcome),
  deadLetters: (jobType) => Promise.resolve(started().deadLetters(jobType)),
  stop: () => started().close(),
});
