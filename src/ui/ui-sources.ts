import type { DeadLetterContext, DeadLetterMessage } from '../dlq/dead-letter-context.js';
import type { DeadLetterReplayOptions, ReplayProgress } from '../dlq/dead-letter-replay-options.js';
import type { ReplaySummary } from '../dlq/dead-letter-replay.js';
import type { QueueStatus } from '../dlq/queue-status.js';
import type { PayloadSchema } from '../registry/payload-schema.js';
import type { ScheduleStatus } from '../scheduler/scheduler.js';

/**
 * What the web UI reads and does, as interfaces: the broker-backed implementations (`brokerSources`) wrap warren's
 * own classes — `DeadLetterAdmin`, `DeadLetterReplay`, `Scheduler`, `WarrenClient` — so that the pages read and act
 * exactly as the CLI does; tests hand in fakes of the same shape.
 */

/** A queue's ready messages and consumers, by a passive declare; `undefined` when it does not exist. */
export interface QueueProbe {
  status(queue: string): Promise<QueueStatus | undefined>;
}

/**
 * One queue as RabbitMQ's management API lists it (`GET /api/queues/<vhost>`). A count is `undefined` when the API
 * does not give it: a queue declared a few seconds ago is listed before its first statistics sample, without counts.
 */
export interface ManagedQueue {
  readonly name: string;
  /** Ready plus unacknowledged. */
  readonly messages: number | undefined;
  readonly ready: number | undefined;
  readonly unacknowledged: number | undefined;
  readonly consumers: number | undefined;
  /** Messages per second over the management API's sample window; `undefined` when it has no sample. */
  readonly publishRate: number | undefined;
  /** Deliveries (consume and get) per second. */
  readonly deliverRate: number | undefined;
  readonly ackRate: number | undefined;
}

/** The queues of a namespace from the management API; rejects when the API cannot be reached. */
export interface QueueListing {
  /** Where it asks (its URL without credentials), to say so on the page. */
  readonly describe: string;
  queues(namespace: string): Promise<readonly ManagedQueue[]>;
}

/** Reads dead letters the way `warren dlq peek` does: `DeadLetterAdmin` is one. */
export interface DeadLetterReader {
  /** Ready dead letters. @throws ConfigError when the job type has no dead-letter queue */
  count(jobType: string): Promise<number>;
  /** Reads up to `limit` from the head and gives them all back; resolves with how many were read. */
  scan(
    jobType: string,
    limit: number,
    visit: (context: DeadLetterContext, message: DeadLetterMessage) => void,
  ): Promise<number>;
  /** True when the dead-letter queue lacks the delivery limit that makes reading it free (an earlier warren's). */
  lacksDeliveryLimit(jobType: string): Promise<boolean>;
}

/** What a replay from the UI is asked to do: `DeadLetterReplay`'s options without the ones the UI sets itself. */
export type ReplayRequest = Pick<
  DeadLetterReplayOptions,
  'jobType' | 'limit' | 'messageIds' | 'bodies' | 'scanLimit' | 'signal'
>;

/** The state-changing side of dead letters, the same calls as `warren dlq replay` and `warren dlq purge`. */
export interface DeadLetterActions {
  /** Runs one `DeadLetterReplay` to its end. */
  replay(request: ReplayRequest, onProgress: (progress: ReplayProgress) => void): Promise<ReplaySummary>;
  /** `DeadLetterAdmin#purge`: resolves with how many were deleted. */
  purge(jobType: string): Promise<number>;
}

/** The schedules, as `warren schedules` shows them and as `warren schedules trigger` fires one: a `Scheduler`. */
export interface ScheduleSource {
  describe(): Promise<ScheduleStatus[]>;
  /** Publishes one fire now; resolves with its message id. */
  trigger(name: string): Promise<string>;
}

/** A job type of the handlers module, as the overview needs it. */
export interface UiJob {
  readonly jobType: string;
  /** The delays of its retry tiers (its own or the settings'). */
  readonly tiersMs: readonly number[];
  /** Its payload schema, when it has one: an edited payload is checked against it before it is replayed. */
  readonly schema?: PayloadSchema | undefined;
}

/** Everything the UI reads from and acts on. */
export interface UiSources {
  readonly queues: QueueProbe;
  /** Absent when the management API is turned off; its failures are shown, never fatal. */
  readonly listing: QueueListing | undefined;
  readonly deadLetters: DeadLetterReader;
  readonly actions: DeadLetterActions;
  readonly schedules: ScheduleSource;
  /** Closes what the sources opened. Idempotent. */
  close(): Promise<void>;
}
