import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_CONCURRENCY,
  Job,
  Registry,
  RegistrationError,
  defineJob,
  jobMethods,
  prefetchOf,
  type JobContext,
} from 'warren';
import { fakeContext } from '../../helpers/fake-context.js';

const Payload = z.object({ n: z.number() });

class Doubler {
  readonly seen: number[] = [];

  @Job('math.double', { schema: Payload, concurrency: 3, timeoutMs: 1_000 })
  async double(payload: z.output<typeof Payload>, ctx: JobContext): Promise<number> {
    this.seen.push(payload.n);
    return payload.n * 2 + ctx.attempt;
  }

  @Job('math.noop')
  noop(): void {}
}

class Child extends Doubler {
  @Job('math.triple')
  triple(): void {}
}

describe('@Job (TC39 standard decorator) under the test runner', () => {
  it('records metadata that the registry turns into bound handlers', async () => {
    expect(jobMethods(Doubler).map((m) => m.jobType)).toEqual(['math.double', 'math.noop']);
    const registry = new Registry().add([Doubler]);
    const job = registry.get('math.double');
    expect(job?.concurrency).toBe(3);
    expect(job?.timeoutMs).toBe(1_000);
    expect(job?.schema).toBe(Payload);
    // Runs bound to one instance: `this` works inside the method.
    await expect(job?.handler({ n: 4 }, fakeContext({ attempt: 2 }))).resolves.toBe(10);
  });

  it('keeps each class its own list (subclasses inherit, parents do not see children)', () => {
    expect(jobMethods(Child).map((m) => m.jobType)).toEqual(['math.double', 'math.noop', 'math.triple']);
    expect(jobMethods(Doubler)).toHaveLength(2);
  });

  it('rejects a job type registered twice, a class without @Job methods and bad names', () => {
    expect(() => new Registry().add([Doubler, defineJob('math.noop', () => {})])).toThrow(
      /"math.noop" is registered twice/,
    );
    class Plain {}
    expect(() => new Registry().add([Plain])).toThrow(RegistrationError);
    expect(() => new Registry().register(defineJob('bad#type', () => {}))).toThrow(/not valid/);
    expect(() => new Registry().register(defineJob('ok.type', () => {}, { concurrency: 0 }))).toThrow(/concurrency/);
    expect(() => new Registry().add([{ jobType: 'x' }])).toThrow(/defineJob\(\) results or classes/);
  });

  it('takes a prefetch from the concurrency to twice it, and defaults it to the concurrency', () => {
    const job = (options: { concurrency?: number; prefetch?: number }) =>
      new Registry().register(defineJob('ok.type', () => {}, options));
    expect(() => job({ concurrency: 4, prefetch: 3 })).toThrow(
      'job "ok.type": prefetch must be a whole number from its concurrency (4) to twice it (8); got 3',
    );
    expect(() => job({ concurrency: 4, prefetch: 9 })).toThrow(/got 9/);
    expect(() => job({ prefetch: 10.5 })).toThrow(/from its concurrency \(10\) to twice it \(20\); got 10.5/);
    expect(() => job({ concurrency: 4, prefetch: 4 })).not.toThrow();
    expect(() => job({ concurrency: 4, prefetch: 8 })).not.toThrow();
    expect(prefetchOf(defineJob('a.b', () => {}, { concurrency: 4 }))).toBe(4);
    expect(prefetchOf(defineJob('a.b', () => {}, { concurrency: 4, prefetch: 5 }))).toBe(5);
    expect(prefetchOf(defineJob('a.b', () => {}))).toBe(DEFAULT_CONCURRENCY);
    expect(prefetchOf(defineJob('a.b', () => {}, { concurrency: 65_535 }))).toBe(65_535);
  });
});

describe('@Job with middleware and child jobs', () => {
  it('runs the middleware given to @Job around the method, and the method’s ctx.publish is there', async () => {
    const { runJob } = await import('warren/testing');
    const order: string[] = [];
    class Orders {
      @Job('order.place', {
        middleware: [
          async (ctx, next) => {
            order.push(`in ${ctx.jobType}`);
            const result = await next();
            order.push('out');
            return result;
          },
        ],
      })
      place(_payload: unknown, ctx: JobContext): void {
        order.push('method');
        ctx.publish('email.send', { to: 'a' });
      }
    }
    const job = new Registry().add([Orders]).get('order.place');
    if (!job) throw new Error('not registered');
    expect(job.middleware).toHaveLength(1);
    const result = await runJob(job, {});
    expect(order).toEqual(['in order.place', 'method', 'out']);
    expect(result).toMatchObject({
      outcome: 'success',
      children: [{ jobType: 'email.send', messageId: 'test-job-1/1' }],
    });
  });

  it('refuses middleware that is no array of functions, naming the job type', () => {
    const bad = { ...defineJob('bad.mw', () => undefined), middleware: [42] } as never;
    expect(() => new Registry().register(bad)).toThrow(
      'job "bad.mw": middleware must be an array of functions (ctx, next) => …; got an array with a non-function',
    );
  });
});
