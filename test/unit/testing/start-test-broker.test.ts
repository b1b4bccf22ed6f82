import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, hasCode, jobQueue, loadConfig } from 'warren';
import { TestBrokerUnavailableError } from 'warren/testing';
import type { ProbeAnswer, TestBrokerProbes } from '../../../src/testing/choose-test-broker.js';
import { namespaceExchanges, namespaceQueues } from '../../../src/testing/clean-test-namespace.js';
import { startTestBrokerWith, type TestBrokerIo } from '../../../src/testing/start-test-broker.js';
import { testcontainersMissing, type TestContainersOptions } from '../../../src/testing/test-broker-containers.js';
import { deadQueue } from '../../../src/topology/names.js';

const OK: ProbeAnswer = { ok: true };
const refused: ProbeAnswer = { ok: false, reason: 'ECONNREFUSED' };

/** Fake I/O: probes answering as told, and containers that record their start and stops. */
function fakeIo(answers: { amqp: ProbeAnswer; redis: ProbeAnswer; docker: ProbeAnswer }) {
  const probed: string[] = [];
  const started: TestContainersOptions[] = [];
  let stops = 0;
  const probes: TestBrokerProbes = {
    amqp: async (url) => (probed.push(url), answers.amqp),
    redis: async (url) => (probed.push(url), answers.redis),
    docker: async () => answers.docker,
  };
  const io: TestBrokerIo = {
    probes,
    startContainers: async (options) => {
      started.push(options);
      return {
        amqpUrl: 'amqp://localhost:32768',
        redisUrl: options.redis ? 'redis://localhost:32769' : 'none',
        stop: async () => void (stops += 1),
      };
    },
  };
  return { io, probed, started, stops: () => stops };
}

describe('startTestBroker (with its I/O faked)', () => {
  it('path 1: reads WARREN_AMQP_URL / WARREN_REDIS_URL, returns a fresh namespace and a config to spread', async () => {
    const { io, probed, started } = fakeIo({ amqp: OK, redis: OK, docker: OK });
    const env = { WARREN_AMQP_URL: 'amqp://u:p@rabbit:5673', WARREN_REDIS_URL: 'redis://cache:6380' };
    const a = await startTestBrokerWith({ env }, io);
    const b = await startTestBrokerWith({ env, prefix: 'orders' }, io);
    expect(probed).toEqual(expect.arrayContaining(['amqp://u:p@rabbit:5673', 'redis://cache:6380']));
    expect(started).toEqual([]);
    expect(a).toMatchObject({
      source: 'environment',
      amqpUrl: 'amqp://u:p@rabbit:5673',
      redisUrl: 'redis://cache:6380',
    });
    expect(a.namespace).toMatch(/^test-[0-9a-f]{8}$/);
    expect(b.namespace).toMatch(/^orders-[0-9a-f]{8}$/);
    expect(a.namespace).not.toBe(b.namespace);
    expect(a.config).toEqual({ amqpUrl: a.amqpUrl, redisUrl: a.redisUrl, namespace: a.namespace });
    const config = loadConfig({ env: {}, overrides: a.config });
    expect(config).toMatchObject({ ...a.config, queueType: DEFAULT_CONFIG.queueType });
  });

  it('path 1 falls back to warren defaults when the variables are unset or empty; redis: false probes no Redis', async () => {
    const { io, probed } = fakeIo({ amqp: OK, redis: refused, docker: OK });
    const broker = await startTestBrokerWith({ env: { WARREN_AMQP_URL: '' }, redis: false }, io);
    expect(probed).toEqual([DEFAULT_CONFIG.amqpUrl]);
    expect(broker).toMatchObject({ source: 'environment', amqpUrl: DEFAULT_CONFIG.amqpUrl, redisUrl: 'none' });
  });

  it('path 2: starts containers with the default images (or the given ones); stop() stops them once, memoised', async () => {
    const { io, started, stops } = fakeIo({ amqp: refused, redis: OK, docker: OK });
    const broker = await startTestBrokerWith({ env: {} }, io);
    expect(started).toEqual([{ rabbitmqImage: 'rabbitmq:4.0-management', redisImage: 'redis:7-alpine', redis: true }]);
    expect(broker).toMatchObject({
      source: 'containers',
      amqpUrl: 'amqp://localhost:32768',
      redisUrl: 'redis://localhost:32769',
    });
    expect(broker.config).toEqual({
      amqpUrl: 'amqp://localhost:32768',
      redisUrl: 'redis://localhost:32769',
      namespace: broker.namespace,
    });
    const first = broker.stop();
    expect(broker.stop()).toBe(first);
    await first;
    await broker.stop();
    expect(stops()).toBe(1);

    await startTestBrokerWith({ env: {}, redis: false, rabbitmqImage: 'rabbitmq:3.13', redisImage: 'x' }, io);
    expect(started[1]).toEqual({ rabbitmqImage: 'rabbitmq:3.13', redisImage: 'x', redis: false });
  });

  it('path 2: a container stop that fails rejects stop() with an AggregateError, the same promise each time', async () => {
    const { io } = fakeIo({ amqp: refused, redis: OK, docker: OK });
    const failing: TestBrokerIo = {
      ...io,
      startContainers: async (options) => ({
        ...(await io.startContainers(options)),
        stop: async () => {
          throw new Error('container already gone');
        },
      }),
    };
    const broker = await startTestBrokerWith({ env: {} }, failing);
    const stopped = broker.stop();
    expect(broker.stop()).toBe(stopped);
    await expect(stopped).rejects.toThrow(AggregateError);
    await expect(stopped).rejects.toThrow(
      /cleanup step\(s\) of namespace test-[0-9a-f]{8} failed; the first: container already gone/,
    );
  });

  it('path 3: rejects with TestBrokerUnavailableError, one line, password redacted', async () => {
    const { io, started } = fakeIo({
      amqp: refused,
      redis: refused,
      docker: { ok: false, reason: 'no docker command on the PATH' },
    });
    const error = await startTestBrokerWith({ env: { WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' } }, io).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TestBrokerUnavailableError);
    expect(hasCode(error, 'WARREN_ERR_TEST_BROKER_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe(
      'no RabbitMQ for tests: amqp://guest:***@127.0.0.1:1 (WARREN_AMQP_URL) did not answer (ECONNREFUSED), and no ' +
        'Docker engine answered (docker info: no docker command on the PATH); start RabbitMQ (and Redis) and set ' +
        'WARREN_AMQP_URL / WARREN_REDIS_URL, or install Docker',
    );
    expect(started).toEqual([]);
  });

  it('refuses a prefix or a job type that is no valid name, before any probe', async () => {
    const { io, probed } = fakeIo({ amqp: OK, redis: OK, docker: OK });
    await expect(startTestBrokerWith({ prefix: 'has space' }, io)).rejects.toThrow(ConfigError);
    await expect(startTestBrokerWith({ prefix: 'has space' }, io)).rejects.toThrow(
      /prefix must be .*; got "has space"/,
    );
    await expect(startTestBrokerWith({ jobTypes: ['email send'] }, io)).rejects.toThrow(
      /startTestBroker: jobTypes: job type "email send" is not valid/,
    );
    expect(probed).toEqual([]);
  });
});

describe('what stop() deletes', () => {
  it('the queues of the named job types, the default and given retry tiers, the delay cascade; the exchanges', () => {
    const queues = namespaceQueues('ns', ['email.send'], [500, 1_000]);
    expect(queues).toEqual(
      expect.arrayContaining([
        jobQueue('ns', 'email.send'),
        deadQueue('ns', 'email.send'),
        'ns.retry.500ms',
        'ns.retry.1s',
        'ns.retry.1h',
        'ns.delay.00',
        'ns.delay.27',
      ]),
    );
    expect(new Set(queues).size).toBe(queues.length);
    // 3 per job type, 7 tiers (6 default + 500 ms), 28 delay levels.
    expect(queues).toHaveLength(3 + 7 + 28);
    const exchanges = namespaceExchanges('ns');
    expect(exchanges).toEqual(
      expect.arrayContaining([
        'ns.jobs',
        'ns.dead',
        'ns.retry',
        'ns.requeue',
        'ns.delayed',
        'ns.delay.00',
        'ns.delay.27',
      ]),
    );
    expect(exchanges).toHaveLength(5 + 28);
  });
});

describe('testcontainers missing', () => {
  it('says in one line what to install', () => {
    const missing = Object.assign(new Error("Cannot find package 'testcontainers' imported from /app/x.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(testcontainersMissing(missing)).toBe(
      'RabbitMQ did not answer and a Docker engine did, but testcontainers is not installed: install ' +
        'testcontainers@11 and @testcontainers/rabbitmq@11 as dev dependencies (npm install --save-dev ' +
        'testcontainers@11 @testcontainers/rabbitmq@11)',
    );
    expect(testcontainersMissing(new Error('boom\n  at x'))).toMatch(
      /testcontainers could not be loaded \(boom\): install/,
    );
  });
});
