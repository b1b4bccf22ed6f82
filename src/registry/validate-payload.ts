import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { PayloadSchema } from './payload-schema.js';

/** A payload checked against its job's schema. */
export type Validated =
  { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly message: string };

/**
 * Validates a payload against a Standard Schema, with one readable line listing each issue by path.
 *
 * Synchronous when the schema answers synchronously, so a consumer makes no promise for it; a (native) Promise when
 * the schema answers with one (async refinements). A schema that throws, or whose promise rejects, makes this throw
 * or reject with that error: the schema failed, not the payload.
 */
export function validatePayload(
  schema: PayloadSchema,
  payload: unknown,
  jobType: string,
): Validated | Promise<Validated> {
  const result = schema['~standard'].validate(payload);
  if (typeof (result as Partial<PromiseLike<unknown>> | null | undefined)?.then === 'function') {
    // Promise.resolve returns a native promise as it is, and adopts any other thenable.
    return Promise.resolve(result).then((settled) => toValidated(settled, jobType));
  }
  return toValidated(result as StandardSchemaV1.Result<unknown>, jobType);
}

function toValidated(result: StandardSchemaV1.Result<unknown>, jobType: string): Validated {
  if (typeof result !== 'object' || result === null) {
    throw new TypeError(`the schema of "${jobType}" returned ${String(result)}, not a Standard Schema result`);
  }
  // The spec: a falsy `issues` is a success.
  if (!result.issues) return { ok: true, data: result.value };
  const issues = result.issues.map(describeIssue);
  return {
    ok: false,
    message: `payload does not match the schema of "${jobType}": ${issues.join('; ') || '(the schema named no issue)'}`,
  };
}

/** `items.0.sku: Required`: the path's keys joined by dots (`(root)` for none), then the message. */
function describeIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
  return `${path || '(root)'}: ${issue.message}`;
}
