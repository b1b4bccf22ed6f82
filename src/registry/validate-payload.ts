import type { z } from 'zod';

/** A payload checked against its job's schema. */
export type Validated =
  { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly message: string };

/** Validates a payload, with one readable line listing each issue by path. */
export function validatePayload(schema: z.ZodType, payload: unknown, jobType: string): Validated {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return { ok: true, data: parsed.data };
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return { ok: false, message: `payload does not match the schema of "${jobType}": ${issues.join('; ')}` };
}
