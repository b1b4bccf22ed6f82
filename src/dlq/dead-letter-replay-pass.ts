import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ChannelModel, ConfirmChannel, Message } from 'amqplib';
import { ConnectionError } from '../errors/connection-error.js';
import { readDeadLetterContext, type DeadLetterContext } from './dead-letter-context.js';
import {
  copyFailure,
  decideCopy,
  passIsOver,
  ReplayTally,
  takesDelivery,
  type CopyAnswer,
  type CopyFacts,
  type CopyOutcome,
  type PassState,
} from './dead-letter-replay-outcome.js';
import type { ReplayProgress } from './dead-letter-replay-options.js';
import { replayCopy, withBody } from './replay-copy.js';
import { startPublishSpan, type PublishSpan, type PublishTrace } from '../tracing/publish-span.js';

/** How long closing a channel may take at the end of a pass (a blocked connection never answers). */
const CLOSE_WAIT_MS = 5_000;
/** How often a pass re-checks whether it is over while nothing else happens (the idle end, the abort signal). */
const TICK_MS = 100;

/** What one pass over a dead-letter queue is given. */
export interface ReplayPassOptions {
  readonly jobType: string;
  /** `host:port` of the broker node the copies are published to, for their publish spans. */
  readonly node?: string | undefined;
  readonly deadLetterQueue: string;
  readonly jobQueue: string;
  /** Where copies are published, and with which routing key: bound only to the job's own queue. */
  readonly exchange: string;
  readonly routingKey: string;
  /** Dead letters to take on. */
  readonly total: number;
  /** Dead letters held at once (the consumer's prefetch), and so copies awaiting their confirm at once. */
  readonly maxUnconfirmed: number;
  /**
   * Takes only dead letters carrying one of these message ids, the first of each (`total` is at most its size); the
   * others are left unacknowledged and go back to the queue, untouched, when the pass closes its channel.
   */
  readonly messageIds?: ReadonlySet<string> | undefined;
  /** With `messageIds`: a JSON body to publish instead of the dead letter's, by message id (edit and replay). */
  readonly bodies?: ReadonlyMap<string, Buffer> | undefined;
  /**
   * The consumer's prefetch, when it is not `maxUnconfirmed`: with `messageIds`, how far into the queue the pass
   * looks for them (the dead letters it leaves hold their places in the prefetch). The copies awaiting their
   * confirm stay at most `messageIds`' size.
   */
  readonly prefetch?: number | undefined;
  readonly publishTimeoutMs: number;
  readonly deliveryLimit: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((progress: ReplayProgress) => void) | undefined;
  readonly afterConfirm?: ((confirmed: number) => void) | undefined;
}

/** What a pass did. */
export interface ReplayPassResult {
  readonly taken: number;
  readonly counts: Readonly<Record<CopyOutcome, number>>;
  /** Why it stopped before its total: the first copy that was not confirmed, or a channel that closed. */
  readonly failure: Error | undefined;
  /** Stopped by the signal before it had taken its total. */
  readonly interrupted: boolean;
  /** With `messageIds`: those no dead letter it was delivered carried (in the order given). */
  readonly notFound?: readonly string[];
}

/** One copy awaiting the broker's answer; the first answer counts (a confirm after the timeout changes nothing). */
class PendingCopy {
  /** A `basic.return` arrived while this copy was unanswered (see {@link ReplayPass}'s return listener). */
  returned = false;
  /** The copy's publish span, while tracing is on; ended by the broker's answer. */
  span: PublishSpan | undefined;
  #answered = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly deadLetter: Message,
    readonly context: DeadLetterContext,
    readonly onAnswer: (copy: PendingCopy, answer: CopyAnswer, cause?: Error) => void,
  ) {}

  /** Answers `timed-out` unless the broker answers within `timeoutMs`. */
  expireAfter(timeoutMs: number): void {
    if (!this.#answered) this.#timer = setTimeout(() => this.answer('timed-out'), timeoutMs);
  }

  answer(answer: CopyAnswer, cause?: Error): void {
    if (this.#answered) return;
    this.#answered = true;
    clearTimeout(this.#timer);
    this.onAnswer(this, answer, cause);
  }
}

/**
 * One pass over a job type's dead-letter queue: consumes up to `total` dead letters (at most `maxUnconfirmed` held at
 * once), publishes a copy of each (mandatory, confirmed), and acknowledges a dead letter only once its own copy is
 * confirmed (`decideCopy`). The first copy that is refused, returned, lost or not confirmed in time stops the pass:
 * it takes no more dead letters, waits for the copies in flight, and every dead letter not acknowledged goes back
 * to the queue when the pass closes its channel.
 *
 * What can repeat is bounded by the prefetch: the broker hands the pass at most `maxUnconfirmed` dead letters it has
 * not seen settled, so a pass killed at any point leaves at most that many dead letters whose copies may already be
 * in the job queue.
 */
export class ReplayPass {
  readonly #options: ReplayPassOptions;
  readonly #deadLetters: Channel;
  readonly #copies: ConfirmChannel;
  readonly #tally = new ReplayTally();
  readonly #pending = new Set<PendingCopy>();
  /** The message ids of `messageIds` not taken yet. */
  readonly #wanted: Set<string> | undefined;
  #taken = 0;
  #confirmed = 0;
  #lastDeliveryAt = Date.now();
  /** Set once the pass closes its own channels: their close events are no failure then. */
  #closing = false;
  #wake: () => void = () => {};

  private constructor(options: ReplayPassOptions, deadLetters: Channel, copies: ConfirmChannel) {
    this.#options = options;
    this.#deadLetters = deadLetters;
    this.#copies = copies;
    this.#wanted = options.messageIds === undefined ? undefined : new Set(options.messageIds);
  }

  /**
   * Opens the pass's two channels: one consuming the dead-letter queue on `admin`, one publishing copies with
   * confirms on `publishing` (a connection of its own: RabbitMQ blocks publishing connections, never consuming ones).
   */
  static async open(admin: ChannelModel, publishing: ChannelModel, options: ReplayPassOptions): Promise<ReplayPass> {
    const deadLetters = await admin.createChannel();
    const copies = await publishing.createConfirmChannel().catch(async (error: unknown) => {
      await deadLetters.close().catch(() => {});
      throw error;
    });
    const pass = new ReplayPass(options, deadLetters, copies);
    pass.#listen();
    return pass;
  }

  /** Runs the pass to its end and closes its channels. Resolves in every case; `failure` says why it stopped. */
  async run(): Promise<ReplayPassResult> {
    const { signal, total } = this.#options;
    const ticker = setInterval(() => this.#wake(), TICK_MS);
    const onAbort = (): void => this.#wake();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (total > 0) await this.#consume();
    } catch (error) {
      this.#tally.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
      await this.#close();
    }
    return {
      taken: this.#taken,
      counts: this.#tally.counts,
      failure: this.#tally.failure,
      interrupted: signal?.aborted === true && this.#taken < total,
      ...(this.#wanted === undefined ? {} : { notFound: [...this.#wanted] }),
    };
  }

  /** Consumes until the pass is over, then cancels the consumer. */
  async #consume(): Promise<void> {
    const { deadLetterQueue, maxUnconfirmed, total, prefetch } = this.#options;
    // Consumed, not fetched one by one: basic.get costs a round trip per dead letter. The prefetch keeps a window of
    // them flowing and bounds the copies awaiting their confirm (amqplib buffers the rest of a burst).
    await this.#deadLetters.prefetch(prefetch ?? Math.min(maxUnconfirmed, total));
    const { consumerTag } = await this.#deadLetters.consume(deadLetterQueue, (message) => this.#onDelivery(message), {
      noAck: false,
    });
    this.#lastDeliveryAt = Date.now();
    await this.#until(() => passIsOver(this.#state()));
    // basic.cancel is a round trip through the queue: the acknowledgements sent before it are applied by then. A
    // quorum queue drops those it has not applied when the channel closes, and their dead letters would come back.
    await this.#deadLetters.cancel(consumerTag);
  }

  #onDelivery(message: Message | null): void {
    if (message === null) {
      this.#tally.fail(
        new ConnectionError(
          `RabbitMQ cancelled the replay's consumer: ${this.#options.deadLetterQueue} was deleted or moved`,
        ),
      );
      this.#wake();
      return;
    }
    this.#lastDeliveryAt = Date.now();
    if (!takesDelivery(this.#state())) return;
    const context = readDeadLetterContext(message, { deliveryLimit: this.#options.deliveryLimit });
    if (this.#wanted !== undefined) {
      // Not selected: left unacknowledged, in its place, until the channel closes.
      if (context.messageId === undefined || !this.#wanted.delete(context.messageId)) return;
    }
    this.#taken += 1;
    this.#publishCopy(message, context);
  }

  #publishCopy(deadLetter: Message, context: DeadLetterContext): void {
    const { exchange, routingKey, publishTimeoutMs } = this.#options;
    const copy = new PendingCopy(deadLetter, context, (settled, answer, cause) => this.#settle(settled, answer, cause));
    this.#pending.add(copy);
    const edited = context.messageId === undefined ? undefined : this.#options.bodies?.get(context.messageId);
    const copied = replayCopy(deadLetter, context.identity);
    const { content, properties } = edited === undefined ? copied : withBody(copied, edited);
    const publish = { ...properties, mandatory: true };
    copy.span = startPublishSpan(exchange, routingKey, content, publish, replayTrace(deadLetter), this.#options.node);
    try {
      this.#copies.publish(exchange, routingKey, content, copy.span?.properties ?? publish, (err: unknown) =>
        copy.answer(answerOf(err, copy), err instanceof Error ? err : undefined),
      );
    } catch (err) {
      // Not sent: the channel is closed. Counted as indeterminate, like every copy a closed channel took with it.
      copy.answer('lost', err instanceof Error ? err : new Error(String(err)));
    }
    copy.expireAfter(publishTimeoutMs);
  }

  /** Decide, then do: what the answer means for the dead letter (`decideCopy`), applied to the channel here. */
  #settle(copy: PendingCopy, answer: CopyAnswer, cause: Error | undefined): void {
    this.#pending.delete(copy);
    const decision = decideCopy(answer);
    let outcome = decision.outcome;
    if (decision.acknowledge) {
      this.#confirmed += 1;
      this.#options.afterConfirm?.(this.#confirmed);
      // Confirmed, but a dead letter that cannot be acknowledged stays, and a rerun sends it again: indeterminate.
      if (!this.#acknowledge(copy.deadLetter)) outcome = 'indeterminate';
    }
    this.#tally.count(outcome);
    const failure = answer === 'confirmed' ? undefined : copyFailure(answer, this.#facts(copy, cause));
    copy.span?.end(failure);
    if (failure) this.#tally.fail(failure);
    if (outcome === 'replayed') {
      this.#options.onProgress?.({ replayed: this.#tally.counts.replayed, total: this.#options.total });
    }
    this.#wake();
  }

  /** Acknowledges on the channel the dead letter came on; false when that channel is gone. */
  #acknowledge(deadLetter: Message): boolean {
    try {
      this.#deadLetters.ack(deadLetter);
      return true;
    } catch (err) {
      this.#channelLost(`channel to ${this.#options.deadLetterQueue}`, err instanceof Error ? err : undefined);
      return false;
    }
  }

  #listen(): void {
    const dead = `channel to ${this.#options.deadLetterQueue}`;
    this.#deadLetters.on('error', (err: Error) => this.#channelLost(dead, err));
    this.#deadLetters.on('close', () => this.#channelLost(dead));
    this.#copies.on('error', (err: Error) => this.#channelLost('publishing channel', err));
    this.#copies.on('close', () => this.#channelLost('publishing channel'));
    // RabbitMQ sends a copy's basic.return before its basic.ack. A return does not say which publish it answers,
    // so every copy unanswered at that moment counts as returned: its dead letter stays (a rerun may send it twice,
    // but none is removed without its copy). All copies share one exchange and routing key: they fail together.
    this.#copies.on('return', () => {
      for (const copy of this.#pending) copy.returned = true;
    });
  }

  #channelLost(what: string, err?: Error): void {
    if (this.#closing) return;
    this.#tally.fail(
      new ConnectionError(`the ${what} closed during the replay${err ? ` (${err.message})` : ''}`, { cause: err }),
    );
    this.#wake();
  }

  #state(): PassState {
    return {
      taken: this.#taken,
      total: this.#options.total,
      inFlight: this.#pending.size,
      stopping: this.#tally.failure !== undefined || this.#options.signal?.aborted === true,
      idleMs: Date.now() - this.#lastDeliveryAt,
    };
  }

  #facts(copy: PendingCopy, cause: Error | undefined): CopyFacts {
    const { jobType, deadLetterQueue, jobQueue, exchange, routingKey, publishTimeoutMs } = this.#options;
    const label = `dead letter ${copy.context.messageId ?? copy.context.identity} of "${jobType}"`;
    return { label, deadLetterQueue, jobQueue, exchange, routingKey, publishTimeoutMs, cause };
  }

  /** Resolves once `condition` holds; checked after every event of the pass and on each tick. */
  async #until(condition: () => boolean): Promise<void> {
    while (!condition()) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * Closes both channels, each within {@link CLOSE_WAIT_MS}. Closing the consuming channel gives back every dead
   * letter it holds unacknowledged; a copy still unanswered is answered `lost` by amqplib (it cannot be: a pass
   * ends only with none in flight, unless a channel failed).
   */
  async #close(): Promise<void> {
    this.#closing = true;
    await Promise.all([closeWithin(this.#copies), closeWithin(this.#deadLetters)]);
  }
}

/**
 * A replayed copy's place in the traces: a new trace (the dead letter may be days old, and its trace long closed),
 * linked to the span that published the dead letter.
 */
function replayTrace(deadLetter: Message): PublishTrace {
  return { root: true, linkTo: deadLetter.properties.headers };
}

/** A confirm callback's argument as an answer: amqplib reports a nack and a closed channel only by message. */
function answerOf(err: unknown, copy: PendingCopy): CopyAnswer {
  if (err === null || err === undefined) return copy.returned ? 'returned' : 'confirmed';
  return err instanceof Error && err.message === 'message nacked' ? 'nacked' : 'lost';
}

async function closeWithin(channel: Channel): Promise<void> {
  // Unreferenced: a close that answers in time must not leave the process waiting for the timer.
  await Promise.race([channel.close().catch(() => {}), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
}
