import { redactUrl } from '../config/broker-urls.js';

/** What one probe found: the service answered, or why it did not (a short reason such as `ECONNREFUSED`). */
export type ProbeAnswer = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** A URL that was probed, where it came from, and what it answered. */
export interface ProbedUrl {
  readonly url: string;
  /** Where the URL came from, as the message names it: `WARREN_AMQP_URL`, or `default, WARREN_AMQP_URL unset`. */
  readonly source: string;
  readonly answer: ProbeAnswer;
}

/** What the probes found, the input of {@link chooseTestBroker}. */
export interface TestBrokerProbeResults {
  readonly amqp: ProbedUrl;
  /** Absent when Redis is not wanted (`redis: false`). */
  readonly redis?: ProbedUrl | undefined;
  /** Absent when Docker was not asked: it is asked only when RabbitMQ did not answer. */
  readonly docker?: ProbeAnswer | undefined;
}

/**
 * Where the tests' broker comes from: the services that answered (`environment`), containers to start
 * (`containers`, both RabbitMQ and, when wanted, Redis), or none, with the one-line message that says why.
 */
export type TestBrokerChoice =
  | { readonly kind: 'environment'; readonly amqpUrl: string; readonly redisUrl: string }
  | { readonly kind: 'containers'; readonly redis: boolean }
  | { readonly kind: 'unavailable'; readonly message: string };

/**
 * Chooses the tests' broker from what the probes found. Pure.
 *
 * - RabbitMQ answered, and Redis too (or Redis is not wanted): use them.
 * - RabbitMQ answered but a wanted Redis did not: unavailable, naming Redis. No container is started for Redis
 *   alone: a test run against a local RabbitMQ and a container's Redis would be a mix nobody asked for.
 * - RabbitMQ did not answer and Docker did: containers for both (a Redis that answered is not used either).
 * - Neither: unavailable, naming the URL tried (password redacted), its source, and why Docker was no way out.
 */
export function chooseTestBroker(results: TestBrokerProbeResults): TestBrokerChoice {
  const { amqp, redis, docker } = results;
  if (amqp.answer.ok) {
    if (redis === undefined) return { kind: 'environment', amqpUrl: amqp.url, redisUrl: 'none' };
    if (redis.answer.ok) return { kind: 'environment', amqpUrl: amqp.url, redisUrl: redis.url };
    return {
      kind: 'unavailable',
      message:
        `no Redis for tests: RabbitMQ answered at ${shown(amqp)}, but ${shown(redis)} did not answer ` +
        `(${reasonOf(redis.answer)}); start Redis and set WARREN_REDIS_URL, or pass { redis: false } to ` +
        'startTestBroker if the tests need no Redis',
    };
  }
  if (docker?.ok === true) return { kind: 'containers', redis: redis !== undefined };
  const dockerReason = docker === undefined ? 'not asked' : reasonOf(docker);
  const services =
    redis === undefined
      ? 'RabbitMQ and set WARREN_AMQP_URL'
      : 'RabbitMQ (and Redis) and set WARREN_AMQP_URL / WARREN_REDIS_URL';
  return {
    kind: 'unavailable',
    message:
      `no RabbitMQ for tests: ${shown(amqp)} did not answer (${reasonOf(amqp.answer)}), and no Docker engine ` +
      `answered (docker info: ${dockerReason}); start ${services}, or install Docker`,
  };
}

/** The I/O {@link planTestBroker} needs, injected: each resolves (never rejects) with what it found. */
export interface TestBrokerProbes {
  /** Whether an AMQP connection to `url` opens within a short time. */
  readonly amqp: (url: string) => Promise<ProbeAnswer>;
  /** Whether Redis at `url` answers PING within a short time. */
  readonly redis: (url: string) => Promise<ProbeAnswer>;
  /** Whether a Docker engine answers (`docker info`) within a short time. */
  readonly docker: () => Promise<ProbeAnswer>;
}

/** A URL to probe and where it came from (see {@link ProbedUrl.source}). */
export interface UrlToProbe {
  readonly url: string;
  readonly source: string;
}

/**
 * Runs the probes and {@link chooseTestBroker}: RabbitMQ and Redis at once, Docker only when RabbitMQ did not answer
 * (a `docker info` costs time, and its answer would not change the choice otherwise). Does no I/O of its own.
 * @param redis absent when Redis is not wanted
 */
export async function planTestBroker(
  amqp: UrlToProbe,
  redis: UrlToProbe | undefined,
  probes: TestBrokerProbes,
): Promise<TestBrokerChoice> {
  const [amqpAnswer, redisAnswer] = await Promise.all([
    probes.amqp(amqp.url),
    redis === undefined ? undefined : probes.redis(redis.url),
  ]);
  const results: TestBrokerProbeResults = {
    amqp: { ...amqp, answer: amqpAnswer },
    redis: redis === undefined || redisAnswer === undefined ? undefined : { ...redis, answer: redisAnswer },
  };
  if (amqpAnswer.ok) return chooseTestBroker(results);
  return chooseTestBroker({ ...results, docker: await probes.docker() });
}

/** The URL, password redacted, and its source: `amqp://guest:***@127.0.0.1:5672 (WARREN_AMQP_URL)`. */
function shown(probed: ProbedUrl): string {
  return `${redactUrl(probed.url)} (${probed.source})`;
}

/**
 * A probe's reason on one line, with any `//user:password@` in it redacted: a client's error text may quote the URL.
 * A reason is never empty.
 */
function reasonOf(answer: ProbeAnswer): string {
  if (answer.ok) return 'answered';
  const line = (answer.reason.split(/\r?\n/).find((part) => part.trim() !== '') ?? '').trim();
  const redacted = line.replace(/\/\/([^:/@\s]*):[^@/\s]*@/g, '//$1:***@');
  return redacted === '' ? 'no reason given' : redacted.length > 160 ? `${redacted.slice(0, 157)}...` : redacted;
}
