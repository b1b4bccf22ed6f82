import type { DeadLetterContext } from '../dlq/dead-letter-context.js';
import { deadQueue } from '../topology/names.js';
import type { DeadLetterReader } from './ui-sources.js';

/** A filter and a page of the dead-letter list, as the query string gives them. */
export interface DeadLetterQuery {
  /** Only dead letters with this reason (`exhausted`, `delivery_limit`, …); `''` for any. */
  readonly reason: string;
  /** Only those whose error name, message or stack, or message id, contain this (case-insensitive); `''` for any. */
  readonly text: string;
  /** 1-based. */
  readonly page: number;
}

/** What the list shows of one dead letter: its context without body or stack. */
export interface DeadLetterRow {
  /** 1-based place from the head of the queue, at the time of reading. */
  readonly position: number;
  readonly identity: string;
  readonly messageId: string | undefined;
  readonly source: DeadLetterContext['source'];
  readonly reason: string | undefined;
  readonly errorName: string | undefined;
  readonly errorMessage: string | undefined;
  readonly attempts: number | undefined;
  readonly deliveries: number | undefined;
  readonly firstFailureAt: string | undefined;
  readonly lastFailureAt: string | undefined;
  readonly workerHost: string | undefined;
  readonly workerPid: number | undefined;
  readonly bodyBytes: number;
}

/** The dead-letter list of one job type. */
export interface DeadLetterList {
  readonly jobType: string;
  readonly queue: string;
  /** Ready in the queue when the page was read. */
  readonly inQueue: number;
  /** How many were read from the head (at most `scanLimit`): filters and pages apply to these. */
  readonly read: number;
  readonly scanLimit: number;
  /** Reasons among those read, with their counts, most frequent first (for the filter). */
  readonly reasons: ReadonlyArray<readonly [string, number]>;
  /** Of those read, how many pass the filter. */
  readonly matching: number;
  readonly query: DeadLetterQuery;
  readonly pageSize: number;
  /** At least 1. */
  readonly pageCount: number;
  readonly rows: readonly DeadLetterRow[];
  /**
   * True when the queue was declared by an earlier warren without the delivery limit that makes reading it free,
   * and it was not read (see `legacyDeadLetterQueueWarning`).
   */
  readonly unreadLegacy: boolean;
}

/** Reads a query string's `reason`, `q` and `page` into a query; anything unusable reads as its default. Pure. */
export function parseDeadLetterQuery(params: URLSearchParams): DeadLetterQuery {
  const page = Number(params.get('page') ?? '1');
  return {
    reason: (params.get('reason') ?? '').trim().slice(0, 100),
    text: (params.get('q') ?? '').trim().slice(0, 200),
    page: Number.isSafeInteger(page) && page >= 1 ? page : 1,
  };
}

/** Whether a dead letter passes a query's filter. Pure. */
export function matchesQuery(context: DeadLetterContext, query: Pick<DeadLetterQuery, 'reason' | 'text'>): boolean {
  if (query.reason !== '' && (context.reason ?? '') !== query.reason) return false;
  if (query.text === '') return true;
  const needle = query.text.toLowerCase();
  return [context.errorName, context.errorMessage, context.errorStack, context.messageId].some(
    (field) => field !== undefined && field.toLowerCase().includes(needle),
  );
}

/** The list's row of a dead letter. Pure. */
export function toRow(context: DeadLetterContext, position: number): DeadLetterRow {
  return {
    position,
    identity: context.identity,
    messageId: context.messageId,
    source: context.source,
    reason: context.reason,
    errorName: context.errorName,
    errorMessage: context.errorMessage,
    attempts: context.attempts,
    deliveries: context.deliveries,
    firstFailureAt: context.firstFailureAt,
    lastFailureAt: context.lastFailureAt,
    workerHost: context.workerHost,
    workerPid: context.workerPid,
    bodyBytes: context.bodyBytes,
  };
}

/**
 * Collects one page of the dead letters passing a filter while they are read, keeping only that page's rows and the
 * counts: what it holds is bounded by the page size, however many it is shown.
 */
export class PageCollector {
  readonly #query: DeadLetterQuery;
  readonly #pageSize: number;
  readonly #rows: DeadLetterRow[] = [];
  readonly #reasons = new Map<string, number>();
  #read = 0;
  #matching = 0;

  constructor(query: DeadLetterQuery, pageSize: number) {
    this.#query = query;
    this.#pageSize = pageSize;
  }

  add(context: DeadLetterContext): void {
    this.#read += 1;
    const reason = context.reason ?? '';
    this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
    if (!matchesQuery(context, this.#query)) return;
    this.#matching += 1;
    const first = (this.#query.page - 1) * this.#pageSize;
    if (this.#matching > first && this.#matching <= first + this.#pageSize) this.#rows.push(toRow(context, this.#read));
  }

  result(): Pick<DeadLetterList, 'read' | 'reasons' | 'matching' | 'rows' | 'pageCount' | 'query'> {
    const pageCount = Math.max(1, Math.ceil(this.#matching / this.#pageSize));
    return {
      read: this.#read,
      reasons: [...this.#reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
      matching: this.#matching,
      rows: this.#rows,
      pageCount,
      query: this.#query,
    };
  }
}

/**
 * One page of a job type's dead letters. Reads the first `scanLimit` dead letters from the head of the queue, the way
 * `warren dlq peek` reads (fetched unacknowledged, all given back before this resolves; nothing is removed), always
 * that many (or all, when fewer), so that every page and filter reads the same ones and their order stays: filters
 * and pages apply to those. A queue an earlier warren declared without the delivery limit that makes reading free is
 * not read unless `readLegacy` (on RabbitMQ 4.0-4.2 its dead letters are dropped after 20 reads).
 * @throws ConfigError when the job type has no dead-letter queue
 */
export async function readDeadLetterList(
  reader: DeadLetterReader,
  input: {
    readonly namespace: string;
    readonly jobType: string;
    readonly query: DeadLetterQuery;
    readonly scanLimit: number;
    readonly pageSize: number;
    readonly readLegacy: boolean;
  },
): Promise<DeadLetterList> {
  const { namespace, jobType, query, scanLimit, pageSize } = input;
  const inQueue = await reader.count(jobType);
  const collector = new PageCollector(query, pageSize);
  const unreadLegacy = !input.readLegacy && inQueue > 0 && (await reader.lacksDeliveryLimit(jobType));
  if (!unreadLegacy && inQueue > 0) await reader.scan(jobType, scanLimit, (context) => collector.add(context));
  return {
    jobType,
    queue: deadQueue(namespace, jobType),
    inQueue,
    scanLimit,
    pageSize,
    unreadLegacy,
    ...collector.result(),
  };
}
