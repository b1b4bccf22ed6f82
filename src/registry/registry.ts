import { invalidJobType } from '../config/name-rules.js';
import { RegistrationError } from '../errors/registration-error.js';
import { defineJob } from './define-job.js';
import { jobMethods } from './job-decorator.js';
import { DEFAULT_CONCURRENCY, isJobDefinition, type JobDefinition, type JobHandler } from './job-definition.js';
import { SCHEMA_EXPECTED, schemaProblem } from './payload-schema.js';

/** A class with `@Job` methods and a constructor without arguments. */
export type HandlerClass = new () => object;

/** What a handlers module's `handlers` array may hold. */
export type HandlerEntry = JobDefinition | HandlerClass;

/**
 * The job types a worker handles. `register()` is the real mechanism; `@Job` classes and `defineJob`
 * results both end up here. Registering a job type twice is an error.
 */
export class Registry {
  readonly #jobs = new Map<string, JobDefinition>();

  /** Registers one job definition. */
  register(definition: JobDefinition): this {
    const { jobType } = definition;
    const invalid = invalidJobType(jobType);
    if (invalid !== undefined) throw new RegistrationError(invalid);
    if (this.#jobs.has(jobType)) throw new RegistrationError(`job type "${jobType}" is registered twice`);
    const { concurrency, timeoutMs, schema } = definition;
    if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65_535)) {
      throw new RegistrationError(
        `job "${jobType}": concurrency must be a whole number 1-65535; got ${String(concurrency)}`,
      );
    }
    const { prefetch } = definition;
    const slots = concurrency ?? DEFAULT_CONCURRENCY;
    if (
      prefetch !== undefined &&
      (!Number.isInteger(prefetch) || prefetch < slots || prefetch > Math.min(2 * slots, 65_535))
    ) {
      throw new RegistrationError(
        `job "${jobType}": prefetch must be a whole number from its concurrency (${slots}) to twice it ` +
          `(${Math.min(2 * slots, 65_535)}); got ${String(prefetch)}`,
      );
    }
    if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1)) {
      throw new RegistrationError(
        `job "${jobType}": timeoutMs must be a positive whole number; got ${String(timeoutMs)}`,
      );
    }
    // Checked here, not at the first delivery: a schema warren cannot call would fail every job of the type.
    const schemaIssue = schema === undefined ? undefined : schemaProblem(schema);
    if (schemaIssue !== undefined) {
      throw new RegistrationError(`job "${jobType}": schema must be ${SCHEMA_EXPECTED}; got ${schemaIssue}`);
    }
    // A definition from an older copy of warren has no middleware.
    const middleware: unknown = (definition as { middleware?: unknown }).middleware ?? [];
    if (!Array.isArray(middleware) || !middleware.every((m) => typeof m === 'function')) {
      throw new RegistrationError(
        `job "${jobType}": middleware must be an array of functions (ctx, next) => …; got ${Array.isArray(middleware) ? 'an array with a non-function' : typeof middleware}`,
      );
    }
    this.#jobs.set(jobType, definition);
    return this;
  }

  /**
   * Instantiates a class with `@Job` methods and registers each method, bound to the instance.
   * @throws RegistrationError naming the class when it has no `@Job` methods or its constructor throws (the cause)
   */
  registerClass(target: HandlerClass): this {
    const methods = jobMethods(target);
    if (methods.length === 0) {
      throw new RegistrationError(`class ${target.name || '(anonymous)'} has no @Job methods`);
    }
    let instance: Record<string | symbol, unknown>;
    try {
      instance = new target() as Record<string | symbol, unknown>;
    } catch (error) {
      const thrown = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new RegistrationError(
        `class ${target.name || '(anonymous)'} (job types ${methods.map((m) => m.jobType).join(', ')}) could not be ` +
          `created: its constructor threw ${thrown}. warren creates one instance per class, with no arguments`,
        { cause: error },
      );
    }
    for (const { jobType, methodName, options } of methods) {
      const method = instance[methodName] as JobHandler<unknown>;
      this.register(defineJob(jobType, (payload, ctx) => method.call(instance, payload, ctx), options));
    }
    return this;
  }

  /** Registers a handlers module's entries: job definitions and `@Job` classes. */
  add(entries: readonly unknown[]): this {
    for (const entry of entries) {
      if (isJobDefinition(entry)) this.register(entry);
      else if (typeof entry === 'function') this.registerClass(entry as HandlerClass);
      else
        throw new RegistrationError(
          `handlers must be defineJob() results or classes with @Job methods; got ${describe(entry)}`,
        );
    }
    return this;
  }

  get(jobType: string): JobDefinition | undefined {
    return this.#jobs.get(jobType);
  }

  /** Every registered job, in registration order. */
  list(): readonly JobDefinition[] {
    return [...this.#jobs.values()];
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
  // A primitive or a function here: String() shows its value or its source, never [object Object].
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  return `${typeof value} ${String(value)}`;
}
