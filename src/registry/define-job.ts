import type { JobDefinition, JobHandler, JobOptions } from './job-definition.js';
import type { PayloadSchema, SchemaOutput } from './payload-schema.js';

/**
 * Defines a job handler without decorators (the function form `@Job` is sugar over).
 * With a `schema` (any Standard Schema: zod 4, valibot, arktype, …), the payload type is the schema's output type.
 *
 * @example
 * export const sendEmail = defineJob('email.send', async (payload, ctx) => { ... }, { schema: EmailSchema });
 */
export function defineJob<const T extends string, S extends PayloadSchema>(
  jobType: T,
  handler: JobHandler<SchemaOutput<S>>,
  options: JobOptions<S> & { readonly schema: S },
): JobDefinition<T, SchemaOutput<S>>;
export function defineJob<const T extends string, P = unknown>(
  jobType: T,
  handler: JobHandler<P>,
  options?: Omit<JobOptions, 'schema'>,
): JobDefinition<T, P>;
export function defineJob(jobType: string, handler: JobHandler<unknown>, options: JobOptions = {}): JobDefinition {
  return Object.freeze({
    kind: 'warren.job' as const,
    jobType,
    handler,
    concurrency: options.concurrency,
    prefetch: options.prefetch,
    timeoutMs: options.timeoutMs,
    schema: options.schema,
    retry: options.retry,
    idempotent: options.idempotent ?? false,
    middleware: Object.freeze([...(options.middleware ?? [])]),
  });
}
