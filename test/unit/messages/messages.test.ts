import { describe, expect, it } from 'vitest';
import { HEADERS } from 'warren';
import { decodeBody } from '../../../src/messages/decode.js';
import { failureHeaders, toError } from '../../../src/messages/failure-headers.js';
import { attemptOf } from '../../../src/messages/read-headers.js';

const body = (text: string, properties: Record<string, unknown> = {}) => ({
  content: Buffer.from(text),
  properties: properties as never,
});

describe('decodeBody', () => {
  it('accepts JSON with a JSON content type or none at all', () => {
    expect(decodeBody(body('{"a":1}', { contentType: 'application/json' }))).toEqual({ ok: true, payload: { a: 1 } });
    expect(decodeBody(body('{"a":1}', { contentType: 'application/vnd.acme+json; charset=utf-8' }))).toEqual({
      ok: true,
      payload: { a: 1 },
    });
    expect(decodeBody(body('[1]'))).toEqual({ ok: true, payload: [1] });
  });

  it('refuses bodies that are not JSON, other content types and encodings', () => {
    expect(decodeBody(body('{oops'))).toMatchObject({ ok: false, error: expect.stringMatching(/not valid JSON/) });
    expect(decodeBody(body('{}', { contentType: 'text/plain' }))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/"text\/plain" is not JSON/),
    });
    expect(decodeBody(body('{}', { contentEncoding: 'gzip' }))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/gzip/),
    });
  });
});

describe('failureHeaders', () => {
  it('keeps the message headers, records the error and keeps the first failure time', () => {
    const error = new Error('x'.repeat(5_000));
    error.stack = 's'.repeat(10_000);
    const headers = failureHeaders({
      outcome: 'exhausted',
      error,
      attempt: 3,
      queue: 'ns.job.a',
      routingKey: 'a',
      previous: { custom: 'kept', 'x-delivery-count': 2, [HEADERS.firstFailureAt]: '2026-01-01T00:00:00.000Z' },
      now: new Date('2026-02-02T00:00:00.000Z'),
    });
    expect(headers).toMatchObject({
      custom: 'kept',
      [HEADERS.reason]: 'exhausted',
      [HEADERS.attempt]: 3,
      [HEADERS.errorName]: 'Error',
      [HEADERS.firstFailureAt]: '2026-01-01T00:00:00.000Z',
      [HEADERS.lastFailureAt]: '2026-02-02T00:00:00.000Z',
      [HEADERS.originalQueue]: 'ns.job.a',
      [HEADERS.originalRoutingKey]: 'a',
      [HEADERS.workerPid]: process.pid,
    });
    expect(headers).not.toHaveProperty('x-delivery-count');
    expect(String(headers[HEADERS.errorStack]).length).toBeLessThanOrEqual(2_000);
    expect(String(headers[HEADERS.errorMessage]).length).toBeLessThanOrEqual(1_000);
  });
});

describe('the original routing key', () => {
  it('is the one the job was first published with, kept through its retries', () => {
    const first = failureHeaders({
      outcome: 'retry',
      error: new Error('x'),
      attempt: 1,
      queue: 'ns.job.report',
      routingKey: 'report',
      previous: {},
      now: new Date('2026-02-02T00:00:00.000Z'),
    });
    const second = failureHeaders({
      outcome: 'exhausted',
      error: new Error('x'),
      attempt: 2,
      queue: 'ns.job.report',
      routingKey: '10m.report',
      previous: first,
      now: new Date('2026-02-02T00:10:00.000Z'),
    });
    expect(first[HEADERS.originalRoutingKey]).toBe('report');
    expect(second[HEADERS.originalRoutingKey]).toBe('report');
  });
});

describe('toError and attempts', () => {
  it('normalises non-Errors', () => {
    expect(toError('x').message).toBe('handler threw a non-Error value: "x"');
    expect(toError(undefined).message).toBe('handler threw undefined');
    expect(toError(null).message).toBe('handler threw a non-Error value: null');
    const error = new TypeError('t');
    expect(toError(error)).toBe(error);
  });

  it('gives a retry copy the next attempt number and no reason', () => {
    const headers = failureHeaders({
      outcome: 'retry',
      error: new Error('x'),
      attempt: 2,
      queue: 'q',
      routingKey: 'a',
      previous: { [HEADERS.reason]: 'exhausted' },
      now: new Date(),
    });
    expect(headers[HEADERS.attempt]).toBe(3);
    expect(headers).not.toHaveProperty(HEADERS.reason);
  });

  it('counts attempts from the header plus broker redeliveries', () => {
    expect(attemptOf({})).toBe(1);
    expect(attemptOf({ [HEADERS.attempt]: 3 })).toBe(3);
    expect(attemptOf({ 'x-delivery-count': 2 })).toBe(3);
    expect(attemptOf({ [HEADERS.attempt]: 'junk' })).toBe(1);
  });
});
