import { RegistrationError } from '../errors/registration-error.js';
import type { JobOptions } from './job-definition.js';
import type { PayloadSchema } from './payload-schema.js';

// Node 20 has no Symbol.metadata; compilers then leave `context.metadata` undefined. Define it before any
// decorated class is evaluated (importing `Job` runs this first), with the key esbuild and tsc both fall back to.
(Symbol as { metadata?: symbol }).metadata ??= Symbol.for('Symbol.metadata');

const JOBS = Symbol.for('warren.jobs');

/** What `@Job` records about one method. */
export interface JobMethod {
  readonly jobType: string;
  readonly methodName: string | symbol;
  readonly options: JobOptions;
}

/**
 * Marks a method as the handler of a job type (TC39 standard decorator). It only records metadata; the class
 * takes effect when it is listed in the handlers module (or passed to `Registry#add`). With a `schema`, type the
 * method's payload as the schema's output (`z.output<typeof S>`, valibot's `v.InferOutput<typeof S>`, arktype's
 * `typeof S.infer`).
 *
 * @example
 * class Reports {
 *   @Job('report.generate', { schema: ReportSchema, concurrency: 2 })
 *   async generate(payload: z.output<typeof ReportSchema>, ctx: JobContext) { ... }
 * }
 */
export function Job<S extends PayloadSchema>(jobType: string, options: JobOptions<S> = {}) {
  return function record(_method: unknown, context: ClassMethodDecoratorContext): void {
    if (context.kind !== 'method' || context.static || context.private) {
      throw new RegistrationError(`@Job("${jobType}") must decorate a public instance method`);
    }
    const metadata = context.metadata as Record<symbol, JobMethod[] | undefined> | undefined;
    if (metadata === undefined) {
      throw new RegistrationError(
        `@Job("${jobType}"): decorator metadata is unavailable; import warren before defining handler classes`,
      );
    }
    // Own copy per class: the metadata object inherits from the parent class's.
    if (!Object.hasOwn(metadata, JOBS)) metadata[JOBS] = [...(metadata[JOBS] ?? [])];
    metadata[JOBS]?.push({ jobType, methodName: context.name, options });
  };
}

/** The `@Job` methods of a class, read back from its decorator metadata. Pure. */
export function jobMethods(target: abstract new (...args: never[]) => unknown): readonly JobMethod[] {
  const key = (Symbol as { metadata?: symbol }).metadata as symbol;
  const metadata = (target as unknown as Record<symbol, Record<symbol, JobMethod[] | undefined> | undefined>)[key];
  return metadata?.[JOBS] ?? [];
}
