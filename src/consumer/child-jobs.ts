import { createHash } from 'node:crypto';
import { invalidJobType } from '../config/name-rules.js';
import { ChildPublishError } from '../errors/child-publish-error.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';
import { PublishOptionsError } from '../errors/publish-options-error.js';
import { encodePayload } from '../messages/encode.js';
import type { PublishOptions } from '../publisher/publish-options.js';
import type { ChildJobOptions } from '../registry/job-definition.js';
import { publishOptionsProblem } from '../publisher/publish-options-problem.js';

/** A child job held until its parent's handler succeeds. */
export interface ChildJob {
  readonly jobType: string;
  /** The payload as it was when published (a copy: later changes to the handler's object do not reach it). */
  readonly payload: unknown;
  /** The publish options, with the derived `messageId`. */
  readonly options: PublishOptions & { readonly messageId: string };
  /** The parent's job id (the child's `x-warren-parent` header). */
  readonly parentId: string;
}

/** Longest AMQP short string, in bytes: a message id is one. */
const MAX_ID_BYTES = 255;

/**
 * The message id of a parent's child: `<parent id>/<key>`, the same on every attempt of the parent, so a child
 * published again after a crash is recognised as the one already sent. An id past AMQP's 255 bytes (deep nesting,
 * long ids) becomes `<sha-256 of it, hex>`: still derived, only not readable. Pure.
 */
export function childMessageId(parentId: string, key: string): string {
  const id = `${parentId}/${key}`;
  if (id.length * 3 <= MAX_ID_BYTES || Buffer.byteLength(id) <= MAX_ID_BYTES) return id;
  return createHash('sha256').update(id).digest('hex');
}

/**
 * The children one attempt of a handler publishes with `ctx.publish`: checked and given their ids at once (a bad
 * job type, option or payload throws in the handler, where it can be seen), held until the handler succeeds, then
 * sent, confirmed, before the parent is acknowledged. A handler that fails sends none.
 */
export class ChildJobs {
  readonly #parentId: string;
  readonly #jobs: ChildJob[] = [];
  readonly #ids = new Set<string>();

  constructor(parentId: string) {
    this.#parentId = parentId;
  }

  /** The children held so far, in publish order. */
  get list(): readonly ChildJob[] {
    return this.#jobs;
  }

  /**
   * Holds one child and returns its message id.
   * @throws PublishOptionsError (job type, options, a key used twice), PayloadInvalidError (not JSON)
   */
  add(jobType: string, payload: unknown, options: ChildJobOptions = {}): string {
    const invalid = invalidJobType(jobType);
    if (invalid !== undefined) throw new PublishOptionsError(`cannot publish a child job: ${invalid}`);
    const problem = publishOptionsProblem(options);
    if (problem !== undefined) throw new PublishOptionsError(`cannot publish child job "${jobType}": ${problem}`);
    const {
      key,
      messageId: given,
      schedule,
      ...rest
    } = options as ChildJobOptions & {
      messageId?: unknown;
      schedule?: unknown;
    };
    if (given !== undefined || schedule !== undefined)
      throw new PublishOptionsError(
        `cannot publish child job "${jobType}": a child's message id is derived from its parent's (give a key instead of messageId), and a child is no schedule's fire`,
      );
    if (key !== undefined && (typeof key !== 'string' || key === ''))
      throw new PublishOptionsError(
        `cannot publish child job "${jobType}": key must be a non-empty string; got ${JSON.stringify(key) ?? String(key)}`,
      );
    const body = encodePayload(payload);
    if (typeof body === 'string') throw new PayloadInvalidError(`cannot publish child job "${jobType}": ${body}`);
    const messageId = childMessageId(this.#parentId, key ?? String(this.#jobs.length + 1));
    if (this.#ids.has(messageId))
      throw new PublishOptionsError(
        `cannot publish child job "${jobType}": message id ${messageId} is already one of this job's children (each key names one child)`,
      );
    this.#ids.add(messageId);
    // A snapshot of the payload as it was published: the handler may change its object before it returns.
    const snapshot: unknown = JSON.parse(body.toString('utf8'));
    this.#jobs.push(
      Object.freeze({
        jobType,
        payload: snapshot,
        options: Object.freeze({ ...rest, messageId }),
        parentId: this.#parentId,
      }),
    );
    return messageId;
  }
}

/**
 * The failure of a parent whose children were not all confirmed: `failed` are the children refused, returned or
 * not confirmed in time, with their errors, out of `total`. The worker and the test harness both fail the attempt
 * with it.
 */
export function childPublishFailure(
  parentId: string,
  failed: ReadonlyArray<{ readonly child: ChildJob; readonly error: unknown }>,
  total: number,
): ChildPublishError {
  const first = failed[0];
  const reason =
    first === undefined ? 'unknown' : first.error instanceof Error ? first.error.message : String(first.error);
  const which = first === undefined ? '' : ` the first, ${first.child.jobType} ${first.child.options.messageId}:`;
  return new ChildPublishError(
    `${failed.length} of ${total} child jobs were not confirmed, so job ${parentId} is not acknowledged;${which} ${reason}`,
    { cause: first?.error },
  );
}
