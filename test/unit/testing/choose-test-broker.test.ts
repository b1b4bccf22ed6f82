import { describe, expect, it } from 'vitest';
import {
  chooseTestBroker,
  planTestBroker,
  type ProbeAnswer,
  type TestBrokerProbes,
} from '../../../src/testing/choose-test-broker.js';

const OK: ProbeAnswer = { ok: true };
const refused: ProbeAnswer = { ok: false, reason: 'ECONNREFUSED' };
const NO_DOCKER: ProbeAnswer = {
  ok: false,
  reason: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
};
const amqp = (answer: ProbeAnswer, url = 'amqp://guest:guest@127.0.0.1:5672', source = 'WARREN_AMQP_URL') => ({
  url,
  source,
  answer,
});
const redis = (answer: ProbeAnswer, url = 'redis://127.0.0.1:6379', source = 'default, WARREN_REDIS_URL unset') => ({
  url,
  source,
  answer,
});

describe('chooseTestBroker', () => {
  it('path 1: uses the environment when RabbitMQ and Redis answer', () => {
    expect(chooseTestBroker({ amqp: amqp(OK), redis: redis(OK) })).toEqual({
      kind: 'environment',
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      redisUrl: 'redis://127.0.0.1:6379',
    });
  });

  it('path 1 without Redis: redisUrl none, whatever Docker says', () => {
    expect(chooseTestBroker({ amqp: amqp(OK), docker: OK })).toEqual({
      kind: 'environment',
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      redisUrl: 'none',
    });
  });

  it('path 2: containers for both when RabbitMQ does not answer and Docker does (even if Redis answered)', () => {
    expect(chooseTestBroker({ amqp: amqp(refused), redis: redis(OK), docker: OK })).toEqual({
      kind: 'containers',
      redis: true,
    });
    expect(chooseTestBroker({ amqp: amqp(refused), docker: OK })).toEqual({ kind: 'containers', redis: false });
  });

  it('path 3: one line naming the URL (redacted), its source, the reason and why Docker was no way out', () => {
    const choice = chooseTestBroker({ amqp: amqp(refused), redis: redis(refused), docker: NO_DOCKER });
    expect(choice).toEqual({
      kind: 'unavailable',
      message:
        'no RabbitMQ for tests: amqp://guest:***@127.0.0.1:5672 (WARREN_AMQP_URL) did not answer (ECONNREFUSED), ' +
        'and no Docker engine answered (docker info: Cannot connect to the Docker daemon at ' +
        'unix:///var/run/docker.sock. Is the docker daemon running?); start RabbitMQ (and Redis) and set ' +
        'WARREN_AMQP_URL / WARREN_REDIS_URL, or install Docker',
    });
    if (choice.kind === 'unavailable') expect(choice.message).not.toMatch(/\n/);
  });

  it('path 3 without Redis wanted: mentions only RabbitMQ', () => {
    const choice = chooseTestBroker({
      amqp: amqp(refused, 'amqp://127.0.0.1:5672', 'default, WARREN_AMQP_URL unset'),
      docker: { ok: false, reason: 'no docker command on the PATH' },
    });
    expect(choice).toEqual({
      kind: 'unavailable',
      message:
        'no RabbitMQ for tests: amqp://127.0.0.1:5672 (default, WARREN_AMQP_URL unset) did not answer (ECONNREFUSED), ' +
        'and no Docker engine answered (docker info: no docker command on the PATH); start RabbitMQ and set ' +
        'WARREN_AMQP_URL, or install Docker',
    });
  });

  it('RabbitMQ answers and a wanted Redis does not: says so, and starts no container for Redis alone', () => {
    const choice = chooseTestBroker({
      amqp: amqp(OK, 'amqp://app:s3cret@rabbit:5672/tests'),
      redis: redis(refused, 'redis://:hunter2@127.0.0.1:6390', 'WARREN_REDIS_URL'),
      docker: OK,
    });
    expect(choice).toEqual({
      kind: 'unavailable',
      message:
        'no Redis for tests: RabbitMQ answered at amqp://app:***@rabbit:5672/tests (WARREN_AMQP_URL), but ' +
        'redis://:***@127.0.0.1:6390 (WARREN_REDIS_URL) did not answer (ECONNREFUSED); start Redis and set ' +
        'WARREN_REDIS_URL, or pass { redis: false } to startTestBroker if the tests need no Redis',
    });
  });

  it('redacts passwords in URLs and in reasons, and keeps a reason to its first line', () => {
    const choice = chooseTestBroker({
      amqp: amqp(
        { ok: false, reason: '\ncannot reach amqp://admin:topsecret@10.0.0.1:5672\n  at Socket.connect (net.js:1)' },
        'amqps://admin:topsecret@10.0.0.1:5671/%2F',
      ),
      docker: { ok: false, reason: 'no answer within 5000 ms' },
    });
    expect(choice.kind).toBe('unavailable');
    const message = choice.kind === 'unavailable' ? choice.message : '';
    expect(message).not.toContain('topsecret');
    expect(message).toContain('amqps://admin:***@10.0.0.1:5671/%2F (WARREN_AMQP_URL)');
    expect(message).toContain('did not answer (cannot reach amqp://admin:***@10.0.0.1:5672)');
    expect(message).not.toMatch(/\n|Socket\.connect/);
  });
});

describe('planTestBroker', () => {
  /** Fake probes answering as told, recording what was asked. */
  function probes(answers: { amqp: ProbeAnswer; redis: ProbeAnswer; docker: ProbeAnswer }) {
    const asked: string[] = [];
    const fake: TestBrokerProbes = {
      amqp: async (url) => (asked.push(`amqp ${url}`), answers.amqp),
      redis: async (url) => (asked.push(`redis ${url}`), answers.redis),
      docker: async () => (asked.push('docker'), answers.docker),
    };
    return { asked, fake };
  }
  const AMQP = { url: 'amqp://guest:guest@127.0.0.1:5672', source: 'WARREN_AMQP_URL' };
  const REDIS = { url: 'redis://127.0.0.1:6379', source: 'WARREN_REDIS_URL' };

  it('asks Docker nothing when RabbitMQ answers', async () => {
    const { asked, fake } = probes({ amqp: OK, redis: OK, docker: OK });
    expect(await planTestBroker(AMQP, REDIS, fake)).toMatchObject({ kind: 'environment' });
    expect(asked.sort()).toEqual(['amqp amqp://guest:guest@127.0.0.1:5672', 'redis redis://127.0.0.1:6379']);
  });

  it('probes no Redis when it is not wanted', async () => {
    const { asked, fake } = probes({ amqp: OK, redis: refused, docker: NO_DOCKER });
    expect(await planTestBroker(AMQP, undefined, fake)).toMatchObject({ kind: 'environment', redisUrl: 'none' });
    expect(asked).toEqual(['amqp amqp://guest:guest@127.0.0.1:5672']);
  });

  it('asks Docker when RabbitMQ does not answer, and chooses containers when it does', async () => {
    const { asked, fake } = probes({ amqp: refused, redis: OK, docker: OK });
    expect(await planTestBroker(AMQP, REDIS, fake)).toEqual({ kind: 'containers', redis: true });
    expect(asked).toContain('docker');
  });

  it('is unavailable, with the one line, when neither answers', async () => {
    const { fake } = probes({ amqp: refused, redis: refused, docker: NO_DOCKER });
    const choice = await planTestBroker(AMQP, REDIS, fake);
    expect(choice.kind).toBe('unavailable');
    expect(choice.kind === 'unavailable' && choice.message).toMatch(
      /^no RabbitMQ for tests: amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672 \(WARREN_AMQP_URL\) did not answer \(ECONNREFUSED\), and no Docker engine answered \(docker info: Cannot connect/,
    );
  });
});
