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
