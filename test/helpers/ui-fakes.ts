import {
  HEADERS,
  readDeadLetterContext,
  type DeadLetterMessage,
  type ReplaySummary,
  type ScheduleStatus,
} from 'warren';
import type { QueueStatus } from '../../src/dlq/queue-status.js';
import type { ManagedQueue, ReplayRequest, UiSources } from '../../src/ui/ui-sources.js';

/** A dead letter shaped like a worker's, with the given message id and error. */
export function fakeDeadLetter(
  messageId: string,
  options: { reason?: string; errorName?: string; errorMessage?: string; body?: string; stack?: string } = {},
): DeadLetterMessage {
  const failedAt = '2026-03-02T10:25:41.530Z';
  return {
    content: Buffer.from(options.body ?? JSON.stringify({ id: messageId })),
    properties: {
      messageId,
      type: 'email.send',
      contentType: 'application/json',
      timestamp: 1_772_446_000,
      headers: {
        [HEADERS.reason]: options.reason ?? 'exhausted',
        [HEADERS.attempt]: 3,
        [HEADERS.errorName]: options.errorName ?? 'SmtpError',
        [HEADERS.errorMessage]: options.errorMessage ?? `421 try again later (${messageId})`,
        [HEADERS.errorStack]: options.stack ?? `SmtpError: 421\n    at send (${messageId})`,
        [HEADERS.firstFailureAt]: failedAt,
        [HEADERS.lastFailureAt]: failedAt,
        [HEADERS.workerHost]: 'worker-7',
        [HEADERS.workerPid]: 4211,
        'x-app-tag': 'kept',
      },
    },
  };
}

/** What the fake sources were asked to do. */
export interface FakeCalls {
  readonly replays: ReplayRequest[];
  readonly purges: string[];
  readonly triggers: string[];
  /** Dead letters read by scans, in all. */
  scanned: number;
}

/**
 * Sources of the UI without a broker: queues and dead letters from the given data, replays, purges and triggers
 * recorded. A dead-letter queue exists for each key of `deadLetters`.
 */
export function fakeSources(
  data: {
    deadLetters?: Record<string, DeadLetterMessage[]>;
    queues?: Record<string, QueueStatus>;
    managed?: ManagedQueue[] | Error;
    schedules?: ScheduleStatus[];
    legacy?: string[];
  } = {},
): { sources: UiSources; calls: FakeCalls } {
  const calls: FakeCalls = { replays: [], purges: [], triggers: [], scanned: 0 };
  const deadLetters = data.deadLetters ?? {};
  const requireQueue = (jobType: string): DeadLetterMessage[] => {
    const messages = deadLetters[jobType];
    if (messages === undefined) {
      throw Object.assign(new Error(`job type "${jobType}" has no dead-letter queue`), { code: 'WARREN_ERR_CONFIG' });
    }
    return messages;
  };
  const sources: UiSources = {
    queues: { status: async (queue) => data.queues?.[queue] },
    listing:
      data.managed === undefined
        ? undefined
        : {
            describe: 'http://127.0.0.1:15672 (vhost /)',
            queues: async () => {
              if (data.managed instanceof Error) throw data.managed;
              return data.managed ?? [];
            },
          },
    deadLetters: {
      count: async (jobType) => requireQueue(jobType).length,
      scan: async (jobType, limit, visit) => {
        const messages = requireQueue(jobType).slice(0, limit);
        for (const message of messages) visit(readDeadLetterContext(message, { deliveryLimit: 5 }), message);
        calls.scanned += messages.length;
        return messages.length;
      },
      lacksDeliveryLimit: async (jobType) => (data.legacy ?? []).includes(jobType),
    },
    actions: {
      async replay(request, onProgress) {
        calls.replays.push(request);
        const messages = requireQueue(request.jobType);
        const total = request.messageIds?.length ?? Math.min(request.limit ?? messages.length, messages.length);
        for (let n = 1; n <= total; n += 1) onProgress({ replayed: n, total });
        const summary: ReplaySummary = {
          jobType: request.jobType,
          queue: `warren.job.${request.jobType}`,
          deadLetterQueue: `warren.dead.${request.jobType}`,
          total,
          replayed: total,
          rejected: 0,
          unroutable: 0,
          indeterminate: 0,
          remaining: messages.length - total,
          interrupted: false,
          ...(request.messageIds ? { notFound: [] } : {}),
        };
        return summary;
      },
      async purge(jobType) {
        calls.purges.push(jobType);
        return requireQueue(jobType).length;
      },
    },
    schedules: {
      describe: async () => data.schedules ?? [],
      async trigger(name) {
        calls.triggers.push(name);
        return `${name}@2026-03-02T10:00:00.000Z`;
      },
    },
    close: async () => {},
  };
  return { sources, calls };
}
