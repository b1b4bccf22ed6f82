import type { StandardSchemaV1 } from '@standard-schema/spec';

/**
 * A payload schema: any Standard Schema v1 (zod 4 and zod 3.24+, valibot 1, arktype 2, …). warren calls only
 * `schema["~standard"].validate(value)`, so it needs none of these libraries itself; the application brings its own.
 */
export type PayloadSchema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output>;

/** The type a schema's validation produces: what a handler receives. */
export type SchemaOutput<S extends PayloadSchema> = StandardSchemaV1.InferOutput<S>;

/** The type a schema's validation accepts: what a publisher sends. */
export type SchemaInput<S extends PayloadSchema> = StandardSchemaV1.InferInput<S>;

/** What a `schema` must be, for the messages that refuse one. */
export const SCHEMA_EXPECTED =
  'a Standard Schema (zod 4, valibot, arktype, … — an object with a "~standard" property)' as const;

/** How many keys of a non-schema object a message lists before it stops. */
const LISTED_KEYS = 8;

/**
 * Why `value` is not a Standard Schema v1 that warren can call, as the "got …" part of a message; `undefined`
 * when it is one. Pure, and it calls nothing on `value` (a getter for `~standard`, as zod's, is read once).
 */
export function schemaProblem(value: unknown): string | undefined {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  // A primitive here: String() shows its value.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  if (typeof value !== 'object' && typeof value !== 'function') return `${typeof value} ${String(value)}`;
  const standard = (value as { '~standard'?: unknown })['~standard'];
  if (standard === undefined) return `${describeObject(value)}${looksLikeOldZod(value) ? OLD_ZOD_HINT : ''}`;
  if (typeof standard !== 'object' || standard === null) return `a "~standard" property that is ${typeOf(standard)}`;
  const { version, validate } = standard as { version?: unknown; validate?: unknown };
  if (version !== 1) return `a "~standard" property of version ${String(version)} (warren supports version 1)`;
  if (typeof validate !== 'function') return `a "~standard" property whose validate is ${typeOf(validate)}`;
  return undefined;
}

const OLD_ZOD_HINT = ' (a zod schema older than 3.24, which does not implement Standard Schema: use zod 3.24 or later)';

/** zod 3 before 3.24: a `_def` and the parse methods, no `~standard`. */
function looksLikeOldZod(value: object): boolean {
  const candidate = value as { _def?: unknown; safeParse?: unknown };
  return typeof candidate._def === 'object' && typeof candidate.safeParse === 'function';
}

function describeObject(value: object): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const keys = Object.keys(value);
  if (keys.length === 0) return 'an object with no keys';
  const listed = keys.slice(0, LISTED_KEYS).join(', ');
  return `an object with keys ${listed}${keys.length > LISTED_KEYS ? `, … (${keys.length} in all)` : ''}`;
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
