import type { WarrenConfig } from '../config/config-options.js';
import { parseDuration } from '../config/duration.js';
import { RegistrationError } from '../errors/registration-error.js';
import type { RetryOptions } from '../registry/job-definition.js';

/** A job's resolved retry policy. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Tier delays in the order attempts use them. */
  readonly tiersMs: readonly number[];
}

/**
 * Resolves a job's retry options against the settings.
 * @throws RegistrationError naming the job and the bad value.
 */
export function resolveRetryPolicy(
  jobType: string,
  retry: RetryOptions | undefined,
  settings: Pick<WarrenConfig, 'maxAttempts' | 'retryTiersMs'>,
): RetryPolicy {
  const maxAttempts = retry?.maxAttempts ?? settings.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RegistrationError(
      `job "${jobType}": retry.maxAttempts must be a whole number, 1 or more; got ${String(maxAttempts)}`,
    );
  }
  const tiersMs = (retry?.tiers ?? settings.retryTiersMs).map((tier) => {
    const ms = typeof tier === 'string' ? parseDuration(tier) : tier;
    if (ms === undefined || !Number.isInteger(ms) || ms < 1) {
      throw new RegistrationError(
        `job "${jobType}": retry.tiers must be positive durations such as 1000 or "5s"; got ${JSON.stringify(tier)}`,
      );
    }
    return ms;
  });
  if (tiersMs.length === 0) throw new RegistrationError(`job "${jobType}": retry.tiers must name at least one delay`);
  return Object.freeze({ maxAttempts, tiersMs: Object.freeze(tiersMs) });
}

/** The jobs of a registry as the topology plan needs them: job type and tier delays. */
export function plannedJobs(
  jobs: ReadonlyArray<{
    readonly jobType: string;
    readonly retry: RetryOptions | undefined;
    readonly timeoutMs?: number | undefined;
  }>,
  settings: Pick<WarrenConfig, 'maxAttempts' | 'retryTiersMs'> & Partial<Pick<WarrenConfig, 'jobTimeoutMs'>>,
): Array<{ jobType: string; tiersMs: readonly number[]; timeoutMs?: number }> {
  return jobs.map((job) => {
    const timeoutMs = job.timeoutMs ?? settings.jobTimeoutMs;
    return {
      jobType: job.jobType,
      tiersMs: resolveRetryPolicy(job.jobType, job.retry, settings).tiersMs,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    };
  });
}
