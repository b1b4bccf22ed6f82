/**
 * `warren/testing`: helpers for testing handlers without a broker. Nothing in warren's main entry loads this module.
 */
export { runJob } from './run-job.js';
export type { RunJobContext, RunJobResult } from './run-job.js';
export { TestHarness, createTestHarness } from './test-harness.js';
export type { HarnessWaitOptions, TestHarnessOptions } from './test-harness.js';
export type { FiredSchedule, HandledJob, HandledOutcome, PublishedJob } from './harness-records.js';
