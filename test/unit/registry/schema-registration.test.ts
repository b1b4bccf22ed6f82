import { type } from 'arktype';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Job, Registry, RegistrationError, WarrenClient, defineJob, type JobDefinition } from 'warren';

const EXPECTED = 'a Standard Schema (zod 4, valibot, arktype, … — an object with a "~standard" property)';

/** A definition whose `schema` is whatever a JavaScript caller (or a cast) put there. */
function withSchema(schema: unknown, jobType = 'x'): JobDefinition {
  return { ...defineJob(jobType, () => {}), schema } as JobDefinition;
}

/** Shaped like a zod 3.23 schema: `_def` and bound parse methods as own properties, no `~standard`. */
class OldZodLike {
  readonly _def = { typeName: 'ZodObject' };
  readonly parse = (value: unknown) => value;
  readonly safeParse = (value: unknown) => ({ success: true, data: value });
}

describe('Registry#register refuses a schema that is not a Standard Schema', () => {
  it.each([
    [{ parse() {}, safeParse() {} }, 'an object with keys parse, safeParse'],
    [{ parse() {} }, 'an object with keys parse'],
    [{}, 'an object with no keys'],
    [
      { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10 },
      'an object with keys a, b, c, d, e, f, g, h, … (10 in all)',
    ],
    [[1, 2], 'an array of 2'],
    [null, 'null'],
    ['email', 'string "email"'],
    [42, 'number 42'],
    [function validate() {}, 'a function (validate)'],
    [{ '~standard': true }, 'a "~standard" property that is boolean'],
    [
      { '~standard': { version: 2, vendor: 'x', validate() {} } },
      'a "~standard" property of version 2 (warren supports version 1)',
    ],
    [{ '~standard': { version: 1, vendor: 'x' } }, 'a "~standard" property whose validate is undefined'],
    [
      new OldZodLike(),
      'an object with keys _def, parse, safeParse (a zod schema older than 3.24, which does not implement Standard Schema: use zod 3.24 or later)',
    ],
  ])('given %o', (schema, got) => {
    const register = () => new Registry().register(withSchema(schema, 'order.place'));
    expect(register).toThrow(RegistrationError);
    expect(register).toThrow(`job "order.place": schema must be ${EXPECTED}; got ${got}`);
  });

  it('through a handlers list too: a defineJob result and an @Job class', () => {
    expect(() => new Registry().add([withSchema({ parse() {} }, 'a.b')])).toThrow(
      `job "a.b": schema must be ${EXPECTED}; got an object with keys parse`,
    );
    class Bad {
      @Job('c.d', { schema: { parse() {} } as never })
      handle(): void {}
    }
    expect(() => new Registry().add([Bad])).toThrow(
      `job "c.d": schema must be ${EXPECTED}; got an object with keys parse`,
    );
  });

  it('accepts zod 4, valibot and arktype schemas (arktype types are functions), and no schema', () => {
    const registry = new Registry()
      .register(defineJob('with.zod', () => {}, { schema: z.object({ n: z.number() }) }))
      .register(defineJob('with.valibot', () => {}, { schema: v.object({ n: v.number() }) }))
      .register(defineJob('with.arktype', () => {}, { schema: type({ n: 'number' }) }))
      .register(defineJob('without', () => {}));
    expect(registry.list().map((job) => job.jobType)).toEqual(['with.zod', 'with.valibot', 'with.arktype', 'without']);
  });
});

describe('new WarrenClient({ schemas }) refuses an entry that is not a Standard Schema', () => {
  it('throws a ConfigError naming the entry', () => {
    const create = () =>
      new WarrenClient({
        schemas: { 'email.send': z.object({}), 'user.create': { parse() {}, safeParse() {} } as never },
      });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`schemas["user.create"] must be ${EXPECTED}; got an object with keys parse, safeParse`);
    expect(() => new WarrenClient({ schemas: 'nope' as never })).toThrow(
      'schemas must be an object of job type → schema; got nope',
    );
  });

  it('takes zod, valibot and arktype schemas (no I/O before start)', () => {
    expect(
      () =>
        new WarrenClient({
          schemas: { a: z.object({}), b: v.object({}), c: type({ n: 'number' }) },
        }),
    ).not.toThrow();
  });
});
