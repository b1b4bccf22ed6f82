import { activeTracing } from './otel-api.js';
import { SPAN_KIND, SPAN_NAMES, STATUS_ERROR, TRACE_ATTRIBUTES as A, errorType } from './trace-attributes.js';

/** What a cron fire's span is about. */
export interface FireFacts {
  readonly schedule: string;
  readonly jobType: string;
  readonly fireTime: Date;
}

/**
 * Runs a cron fire's publish inside the fire's own span (kind INTERNAL, `fire <schedule>`), the root of a new
 * trace: a fire is caused by the clock, not by whatever the process was doing, so the job's publish span (and the
 * job's processing after it) are its children. The span ends when the publish has been confirmed or has failed.
 * Without a registered tracer provider, `publish` is simply called.
 */
export function inFireSpan<T>(facts: FireFacts, publish: () => Promise<T>): Promise<T> {
  const tracing = activeTracing();
  if (tracing === undefined) return publish();
  const { api, tracer } = tracing;
  const span = tracer.startSpan(
    SPAN_NAMES.fire(facts.schedule),
    {
      kind: SPAN_KIND.internal,
      root: true,
      attributes: {
        [A.schedule]: facts.schedule,
        [A.fireTime]: facts.fireTime.toISOString(),
        [A.jobType]: facts.jobType,
      },
    },
    api.ROOT_CONTEXT,
  );
  let pending: Promise<T>;
  try {
    pending = api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), publish);
  } catch (thrown) {
    pending = Promise.reject(thrown);
  }
  return pending.then(
    (result) => {
      span.end();
      return result;
    },
    (thrown: unknown) => {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      span.recordException(error);
      span.setAttribute(A.errorType, errorType(error));
      span.setStatus({ code: STATUS_ERROR, message: error.message });
      span.end();
      throw thrown;
    },
  );
}
