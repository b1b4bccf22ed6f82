import { type } from 'arktype';
import * as v from 'valibot';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { Job, defineJob, type JobContext, type JobDefinition, type PayloadOf, type WarrenClient } from 'warren';

// Type-level: `npm run typecheck` checks these files (the assertions cost nothing at run time). Each schema has an
// input and an output that differ, so a mix-up of the two fails to compile.

const ZodOrder = z.object({ id: z.string().transform(Number), note: z.string().optional() });
const ValibotOrder = v.object({ id: v.pipe(v.string(), v.transform(Number)), note: v.optional(v.string()) });
const ArkOrder = type({ id: type('string').pipe(Number), 'note?': 'string' });

interface OrderIn {
  id: string;
  note?: string | undefined;
}
interface OrderOut {
  id: number;
  note?: string | undefined;
}

describe('defineJob types the handler payload as the schema output', () => {
  it('for zod, as before (z.output)', () => {
    const job = defineJob(
      'order.zod',
      (payload) => {
        expectTypeOf(payload).toEqualTypeOf<z.output<typeof ZodOrder>>();
        expectTypeOf(payload.id).toEqualTypeOf<number>();
        // @ts-expect-error the handler gets the output, not the input: id is a number
        // eslint-disable-next-line @typescript-eslint/no-unsafe-call -- the call is the type error under test
        payload.id.toUpperCase();
      },
      { schema: ZodOrder },
    );
    expectTypeOf(job).toEqualTypeOf<JobDefinition<'order.zod', z.output<typeof ZodOrder>>>();
  });

  it('for valibot (v.InferOutput) and arktype (typeof T.infer)', () => {
    const valibotJob = defineJob(
      'order.valibot',
      (payload) => {
        expectTypeOf(payload).toEqualTypeOf<v.InferOutput<typeof ValibotOrder>>();
      },
      { schema: ValibotOrder },
    );
    const arkJob = defineJob(
      'order.ark',
      (payload) => {
        expectTypeOf(payload).toEqualTypeOf<typeof ArkOrder.infer>();
      },
      { schema: ArkOrder },
    );
    expectTypeOf(valibotJob).toEqualTypeOf<JobDefinition<'order.valibot', OrderOut>>();
    expectTypeOf(arkJob.handler).parameter(0).toEqualTypeOf<typeof ArkOrder.infer>();
    expectTypeOf<typeof ArkOrder.infer>().toMatchTypeOf<OrderOut>();
  });

  it('without a schema, the payload is what the handler declares (unknown by default)', () => {
    expectTypeOf(defineJob('plain', (payload) => payload)).toEqualTypeOf<JobDefinition<'plain', unknown>>();
    expectTypeOf(defineJob('typed', (_payload: { n: number }) => {})).toEqualTypeOf<
      JobDefinition<'typed', { n: number }>
    >();
  });

  it('refuses what is not a Standard Schema, and a handler that wants another payload', () => {
    // @ts-expect-error a zod-3-like object with parse() is not a Standard Schema
    defineJob('bad', () => {}, { schema: { parse() {} } });
    // @ts-expect-error the handler asks for a string id; the schema gives a number
    defineJob('mismatch', (_payload: { id: string }) => {}, { schema: ZodOrder });
  });
});

describe('@Job takes any Standard Schema', () => {
  it('accepts zod, valibot and arktype schemas and refuses others', () => {
    class Orders {
      @Job('o.zod', { schema: ZodOrder })
      zod(payload: z.output<typeof ZodOrder>, _ctx: JobContext): void {
        expectTypeOf(payload).toEqualTypeOf<OrderOut>();
      }

      @Job('o.valibot', { schema: ValibotOrder })
      valibot(_payload: v.InferOutput<typeof ValibotOrder>): void {}

      @Job('o.ark', { schema: ArkOrder })
      ark(_payload: typeof ArkOrder.infer): void {}

      // @ts-expect-error not a Standard Schema
      @Job('o.bad', { schema: { safeParse() {} } })
      bad(): void {}
    }
    expectTypeOf(Orders).toBeConstructibleWith();
  });
});

describe('WarrenClient#publish takes the schema input', () => {
  type Schemas = { 'order.zod': typeof ZodOrder; 'order.valibot': typeof ValibotOrder; 'order.ark': typeof ArkOrder };

  it('for each library, and unknown for a job type without a schema', () => {
    expectTypeOf<PayloadOf<Schemas, 'order.zod'>>().toEqualTypeOf<z.input<typeof ZodOrder>>();
    expectTypeOf<PayloadOf<Schemas, 'order.valibot'>>().toEqualTypeOf<v.InferInput<typeof ValibotOrder>>();
    expectTypeOf<PayloadOf<Schemas, 'order.ark'>>().toEqualTypeOf<typeof ArkOrder.inferIn>();
    expectTypeOf<PayloadOf<Schemas, 'order.valibot'>>().toEqualTypeOf<OrderIn>();
    expectTypeOf<PayloadOf<Schemas, 'other'>>().toEqualTypeOf<unknown>();
  });

  it('refuses a payload of the output type where the input is a string', () => {
    const publish = (client: WarrenClient<Schemas>) => {
      void client.publish('order.zod', { id: '1' });
      void client.publish('order.ark', { id: '1', note: 'n' });
      // @ts-expect-error the schema takes id as a string
      void client.publish('order.valibot', { id: 1 });
      void client.publish('anything.else', 42);
    };
    expectTypeOf(publish).toBeFunction();
  });
});
