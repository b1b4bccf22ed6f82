import type { StandardSchemaV1 } from '@standard-schema/spec';
import { type } from 'arktype';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validatePayload } from '../../../src/registry/validate-payload.js';

/** A hand-written Standard Schema whose validate answers with `answer(value)`. */
function standard(answer: (value: unknown) => unknown): StandardSchemaV1 {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: answer as StandardSchemaV1.Props['validate'],
    },
  };
}

const invalid = (message: string) => ({ ok: false, message });

describe('validatePayload with zod 4', () => {
  const Order = z.object({
    orderId: z.number().int(),
    items: z.array(z.object({ sku: z.string(), qty: z.number().default(1) })),
  });

  it('answers synchronously with the output (defaults applied) for a sync schema', () => {
    const result = validatePayload(Order, { orderId: 1, items: [{ sku: 'a' }] }, 'order.place');
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toEqual({ ok: true, data: { orderId: 1, items: [{ sku: 'a', qty: 1 }] } });
  });

  it('lists every issue by its dotted path, (root) for the top level', () => {
    const result = validatePayload(Order, { orderId: 1.5, items: [{ sku: 3 }] }, 'order.place');
    expect(result).toEqual(
      invalid(
        'payload does not match the schema of "order.place": orderId: Invalid input: expected int, received number; ' +
          'items.0.sku: Invalid input: expected string, received number',
      ),
    );
    expect(validatePayload(Order, 'x', 'order.place')).toEqual(
      invalid(
        'payload does not match the schema of "order.place": (root): Invalid input: expected object, received string',
      ),
    );
  });

  it('answers with a promise for an async refinement, valid or not', async () => {
    const Unique = z.object({ email: z.string().refine(async (email) => email !== 'taken@example.com', 'taken') });
    const valid = validatePayload(Unique, { email: 'new@example.com' }, 'user.create');
    const taken = validatePayload(Unique, { email: 'taken@example.com' }, 'user.create');
    expect(valid).toBeInstanceOf(Promise);
    await expect(valid).resolves.toEqual({ ok: true, data: { email: 'new@example.com' } });
    await expect(taken).resolves.toEqual(invalid('payload does not match the schema of "user.create": email: taken'));
  });
});

describe('validatePayload with valibot 1', () => {
  const Order = v.object({
    orderId: v.pipe(v.number(), v.integer()),
    items: v.array(v.object({ sku: v.string() })),
  });

  it('answers synchronously for a sync schema; its path segments are { key } objects', () => {
    const ok = validatePayload(Order, { orderId: 1, items: [] }, 'order.place');
    expect(ok).not.toBeInstanceOf(Promise);
    expect(ok).toEqual({ ok: true, data: { orderId: 1, items: [] } });
    expect(validatePayload(Order, { orderId: 1, items: [{ sku: 3 }] }, 'order.place')).toEqual(
      invalid(
        'payload does not match the schema of "order.place": items.0.sku: Invalid type: Expected string but received 3',
      ),
    );
  });

  it('answers with a promise for an async check', async () => {
    const Unique = v.objectAsync({
      email: v.pipeAsync(
        v.string(),
        v.checkAsync(async (email) => email !== 'taken@example.com', 'taken'),
      ),
    });
    const taken = validatePayload(Unique, { email: 'taken@example.com' }, 'user.create');
    expect(taken).toBeInstanceOf(Promise);
    await expect(taken).resolves.toEqual(invalid('payload does not match the schema of "user.create": email: taken'));
    await expect(validatePayload(Unique, { email: 'a@example.com' }, 'user.create')).resolves.toEqual({
      ok: true,
      data: { email: 'a@example.com' },
    });
  });
});

describe('validatePayload with arktype 2 (whose types are functions, validated synchronously)', () => {
  const Order = type({ orderId: 'number.integer', 'note?': 'string' });

  it('answers synchronously with the output, and lists issues by path', () => {
    const ok = validatePayload(Order, { orderId: 2 }, 'order.place');
    expect(ok).not.toBeInstanceOf(Promise);
    expect(ok).toEqual({ ok: true, data: { orderId: 2 } });
    expect(validatePayload(Order, { orderId: 'two' }, 'order.place')).toEqual(
      invalid('payload does not match the schema of "order.place": orderId: orderId must be a number (was a string)'),
    );
  });

  it('passes morphs through: the handler gets the output', () => {
    const Trimmed = type({ name: type('string').pipe((s) => s.trim()) });
    expect(validatePayload(Trimmed, { name: '  a ' }, 'x.y')).toEqual({ ok: true, data: { name: 'a' } });
  });
});

describe('validatePayload with any Standard Schema', () => {
  it('joins keys and { key } segments alike, numbers and symbols included', () => {
    const schema = standard(() => ({
      issues: [
        { message: 'first', path: ['a', { key: 0 }, Symbol('s'), { key: 'b' }] },
        { message: 'second', path: [] },
        { message: 'third' },
      ],
    }));
    expect(validatePayload(schema, {}, 'x.y')).toEqual(
      invalid('payload does not match the schema of "x.y": a.0.Symbol(s).b: first; (root): second; (root): third'),
    );
  });

  it('treats a falsy issues as success, and an empty issues list as a failure that says so', () => {
    expect(
      validatePayload(
        standard(() => ({ value: 1, issues: undefined })),
        0,
        'x.y',
      ),
    ).toEqual({ ok: true, data: 1 });
    expect(
      validatePayload(
        standard(() => ({ issues: [] })),
        0,
        'x.y',
      ),
    ).toEqual(invalid('payload does not match the schema of "x.y": (the schema named no issue)'));
  });

  it('adopts a thenable that is not a native promise', async () => {
    const thenable = { then: (resolve: (r: unknown) => void) => resolve({ value: 'later' }) };
    const result = validatePayload(
      standard(() => thenable),
      0,
      'x.y',
    );
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toEqual({ ok: true, data: 'later' });
  });

  it('throws what the schema throws, and rejects with what its promise rejects with', async () => {
    const boom = new Error('lookup failed');
    expect(() =>
      validatePayload(
        standard(() => {
          throw boom;
        }),
        0,
        'x.y',
      ),
    ).toThrow(boom);
    await expect(
      validatePayload(
        standard(() => Promise.reject(boom)),
        0,
        'x.y',
      ),
    ).rejects.toBe(boom);
  });

  it('throws a TypeError naming the job when the schema answers with no result object', () => {
    expect(() =>
      validatePayload(
        standard(() => undefined),
        0,
        'x.y',
      ),
    ).toThrow(new TypeError('the schema of "x.y" returned undefined, not a Standard Schema result'));
  });
});
