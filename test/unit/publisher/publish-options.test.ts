import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, MAX_DELAY_MS, PublishOptionsError, WarrenClient, hasCode } from 'warren';

/**
 * A client that was never started: nothing can be sent, so a publish that passes its checks rejects from the
 * publisher (IllegalStateError) or, delayed, from the connection (ConnectionError), and one that fails them with
 * PublishOptionsError before reaching either.
 */
const client = new WarrenClient({ config: { ...DEFAULT_CONFIG }, logger: pino({ level: 'silent' }) });

/** Publishes plain-JavaScript input (no types in the way), checking that it does not throw. */
function publish(jobType: unknown, options?: unknown): Promise<string> {
  let pending: Promise<string> | undefined;
  expect(() => {
    pending = client.publish(jobType as string, {}, options as never);
  }).not.toThrow();
  return pending as Promise<string>;
}

async function refusal(pending: Promise<string>): Promise<PublishOptionsError> {
  const error = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PublishOptionsError);
  expect((error as PublishOptionsError).code).toBe('WARREN_ERR_PUBLISH_OPTIONS');
  expect((error as PublishOptionsError).name).toBe('PublishOptionsError');
  return error as PublishOptionsError;
}

const LETTERS =
  'use letters, digits, "-" and "_" in dot-separated words, at most 150 characters (it is the routing key)';

describe('publish refuses a bad job type or option before sending', () => {
  it.each<[string, unknown, string]>([
    ['a space', 'email send', `cannot publish: job type "email send" is not valid: ${LETTERS}`],
    ['an AMQP wildcard', 'email.*', `cannot publish: job type "email.*" is not valid: ${LETTERS}`],
    ['an empty word', 'email..send', `cannot publish: job type "email..send" is not valid: ${LETTERS}`],
    ['the empty string', '', `cannot publish: job type "" is not valid: ${LETTERS}`],
    ['too long', 'j'.repeat(151), `cannot publish: job type a string of 151 bytes is not valid: ${LETTERS}`],
    ['a number', 42, 'cannot publish: job type 42 is not valid: a job type is a string, not number'],
    ['undefined', undefined, 'cannot publish: job type undefined is not valid: a job type is a string, not undefined'],
    ['null', null, 'cannot publish: job type null is not valid: a job type is a string, not null'],
  ])('a job type that is %s', async (_, jobType, message) => {
    expect((await refusal(publish(jobType))).message).toBe(message);
  });

  it.each<[string, unknown, string]>([
    ['negative', -1, 'delayMs must be a finite number of milliseconds, 0 or more; got -1'],
    ['NaN', Number.NaN, 'delayMs must be a finite number of milliseconds, 0 or more; got NaN'],
    ['infinite', Number.POSITIVE_INFINITY, 'delayMs must be a finite number of milliseconds, 0 or more; got Infinity'],
    ['a string', '5s', 'delayMs must be a finite number of milliseconds, 0 or more; got "5s"'],
    ['null', null, 'delayMs must be a finite number of milliseconds, 0 or more; got null'],
    [
      'past the longest delay',
      MAX_DELAY_MS + 1_000,
      'delayMs asks for a delay of 268435456 s; the longest delay is 268435455 s (about 8.5 years)',
    ],
  ])('a delayMs that is %s', async (_, delayMs, message) => {
    expect((await refusal(publish('email.send', { delayMs }))).message).toBe(`cannot publish "email.send": ${message}`);
  });

  it('delayMs together with runAt', async () => {
    const runAt = new Date('2030-01-01T00:00:00Z');
    expect((await refusal(publish('email.send', { delayMs: 1_000, runAt }))).message).toBe(
      'cannot publish "email.send": give delayMs or runAt, not both; got delayMs 1000 and runAt the Date 2030-01-01T00:00:00.000Z',
    );
  });

  it.each<[string, unknown, string]>([
    ['a string', '2030-01-01T00:00:00Z', 'runAt must be a valid Date; got "2030-01-01T00:00:00Z"'],
    ['a number', 1_900_000_000_000, 'runAt must be a valid Date; got 1900000000000'],
    ['an invalid Date', new Date('tomorrow'), 'runAt must be a valid Date; got an invalid Date'],
    ['an object', { getTime: () => 0 }, 'runAt must be a valid Date; got an object'],
    ['past the longest delay', new Date(Date.now() + MAX_DELAY_MS + 60_000), 'runAt asks for a delay of 2684355'],
  ])('a runAt that is %s', async (_, runAt, message) => {
    expect((await refusal(publish('email.send', { runAt }))).message).toContain(
      `cannot publish "email.send": ${message}`,
    );
  });

  it.each<[string, unknown, string]>([
    ['empty', '', 'got ""'],
    ['a number', 42, 'got 42'],
    ['null', null, 'got null'],
    ['over 255 bytes', 'm'.repeat(256), 'got a string of 256 bytes'],
    ['over 255 bytes in UTF-8, though 128 characters', 'é'.repeat(128), 'got a string of 256 bytes'],
  ])('a messageId that is %s', async (_, messageId, given) => {
    expect((await refusal(publish('email.send', { messageId }))).message).toBe(
      `cannot publish "email.send": messageId must be a non-empty string of at most 255 bytes (an AMQP short string); ${given}`,
    );
  });

  it.each<[string, unknown, string]>([
    ['an array', [['k', 'v']], 'got an array'],
    ['a Map', new Map([['k', 'v']]), 'got an instance of Map'],
    ['a string', 'k=v', 'got "k=v"'],
    ['null', null, 'got null'],
  ])('headers that are %s', async (_, headers, given) => {
    expect((await refusal(publish('email.send', { headers }))).message).toBe(
      `cannot publish "email.send": headers must be a plain object of header names and values; ${given}`,
    );
  });

  it.each(['x-warren-attempt', 'X-Warren-Schedule', 'x-warren-anything-new'])(
    'a header named %s, in warren’s own space (whatever its case)',
    async (name) => {
      expect((await refusal(publish('email.send', { headers: { 'x-trace': 't', [name]: 1 } }))).message).toBe(
        `cannot publish "email.send": header "${name}" is in warren's own x-warren- space (warren sets those itself); use another name`,
      );
    },
  );

  it('options that are not an object', async () => {
    expect((await refusal(publish('email.send', null))).message).toBe(
      'cannot publish "email.send": publish options must be an object; got null',
    );
  });

  it('lets valid input through to the publisher (which, not started, refuses it)', async () => {
    const passed = (e: unknown): boolean =>
      hasCode(e, 'WARREN_ERR_ILLEGAL_STATE') || hasCode(e, 'WARREN_ERR_CONNECTION');
    const valid: unknown[] = [
      undefined,
      {},
      { delayMs: 0 },
      { delayMs: 1.5 },
      { runAt: new Date(0) },
      // A Date of another realm is a Date.
      { runAt: runInNewContext('new Date(0)') as Date },
      { delayMs: undefined, runAt: new Date(0) },
      { messageId: 'é'.repeat(127) },
      { messageId: 'm'.repeat(255) },
      { headers: { 'x-trace': 't', 'x-warren': 'not the prefix', warren: 1 } },
      { headers: Object.assign(Object.create(null) as object, { a: 1 }) },
      // A Scheduler's options, handed on as they are, or copied with more headers.
      { messageId: 'nightly@2030-01-01T00:00:00.000Z', schedule: 'nightly' },
      { ...{ messageId: 'nightly@x', schedule: 'nightly' }, headers: { traceparent: 't' } },
    ];
    for (const options of valid) {
      await expect(publish('email.send', options), JSON.stringify(options)).rejects.toSatisfy(passed);
    }
  });

  it('refuses a schedule that is no name', async () => {
    for (const schedule of ['', 42, null]) {
      const error = await publish('email.send', { schedule }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublishOptionsError);
      expect((error as Error).message).toMatch(
        /^cannot publish "email\.send": schedule must be the name of a schedule; got /,
      );
    }
  });
});
