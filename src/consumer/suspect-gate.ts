/**
 * What the consumer does with a delivery: run it now, defer it (a confirmed copy to the back of its queue, then an
 * ack), hold it (unacknowledged, to run alone later) or give it back; and whether to stop the flow of deliveries
 * first (cancel the consumer).
 */
export interface Admission {
  readonly action: 'run' | 'defer' | 'hold' | 'give-back';
  readonly pause: boolean;
}

/**
 * What the consumer does next once nothing is in flight. `flush`: make sure the broker has every settle sent so far
 * on the channel, then report it with {@link SuspectGate.flushed}.
 */
export type GateStep<T> =
  | { readonly kind: 'wait' }
  | { readonly kind: 'flush' }
  | { readonly kind: 'run-alone'; readonly item: T }
  | { readonly kind: 'resume'; readonly prefetch: 'one' | 'full' }
  | { readonly kind: 'give-back'; readonly items: readonly T[] };

const RUN: Admission = Object.freeze({ action: 'run', pause: false });
const WAIT = Object.freeze({ kind: 'wait' as const });
const FLUSH = Object.freeze({ kind: 'flush' as const });

/**
 * When a suspect may run, for one consumer channel: a pure state machine, no I/O. A crash hands back every
 * unacknowledged delivery of the process and the broker counts each toward the delivery limit; a suspect (a
 * delivery handed back) therefore runs only when nothing else is unacknowledged in this process, so a further crash
 * is charged to it alone.
 *
 * - `flowing` (prefetch = concurrency): a suspect stops the flow (`isolating`) and is held;
 * - `isolating`: the consumer is being cancelled or is; deliveries already on their way run (non-suspects), the
 *   first suspect is held, later ones are deferred (they would be charged if the held one crashed). When the broker
 *   has confirmed the cancel and nothing is in flight, the held suspects run one at a time; then consuming resumes,
 *   with a prefetch of one (`cautious`) if a suspect ran, at full prefetch otherwise. Nothing in flight is not yet
 *   nothing unacknowledged: a settle is sent, not received (amqplib writes it out on a later turn of the event loop,
 *   and a handler that kills the process at once would keep it in), so each held suspect runs only after a `flush`
 *   has made sure the broker has every settle sent before it;
 * - `cautious` (prefetch 1): each delivery arrives alone, so a suspect runs at once; the first job that is not a
 *   suspect widens the flow again (the consumer is cancelled and re-created at full prefetch, since RabbitMQ applies a
 *   new prefetch only to new consumers). After a crash, the suspects that reached this worker thus run one by one
 *   without being copied again and again.
 */
export class SuspectGate<T> {
  #mode: 'flowing' | 'isolating' | 'cautious' = 'flowing';
  #held: T[] = [];
  #paused = false;
  #running = false;
  #ranSuspect = false;
  /** Whether the broker has had every settle sent so far: `pending` while the consumer makes sure of it. */
  #flush: 'none' | 'pending' | 'done' = 'none';

  get mode(): 'flowing' | 'isolating' | 'cautious' {
    return this.#mode;
  }

  /** How many suspects wait for their turn alone. */
  get held(): number {
    return this.#held.length;
  }

  /** Decides what becomes of a delivery on arrival. */
  admit(item: T, suspect: boolean, draining: boolean): Admission {
    // Shutting down: a suspect runs alone in the next worker, not beside the jobs this one is finishing.
    if (draining) return suspect ? { action: 'give-back', pause: false } : RUN;
    switch (this.#mode) {
      case 'flowing':
        if (!suspect) return RUN;
        this.#isolate([item]);
        return { action: 'hold', pause: true };
      case 'isolating':
        if (!suspect) return RUN;
        if (this.#held.length > 0 || this.#running) return { action: 'defer', pause: false };
        this.#held.push(item);
        return { action: 'hold', pause: false };
      case 'cautious':
        if (suspect) return RUN;
        // The first job that is not a suspect: back to full prefetch.
        this.#isolate([]);
        return { action: 'run', pause: true };
    }
  }

  /**
   * A suspect's deferring copy was not confirmed: it waits here, unacknowledged, for its own turn instead. The copy
   * can fail after the isolation that deferred it has ended (a publish timeout outlasts a short job): it then starts
   * an isolation of its own, and the result is true — the caller must stop the flow, as for a suspect on arrival.
   */
  deferFailed(item: T): boolean {
    if (this.#mode === 'isolating') {
      this.#held.push(item);
      return false;
    }
    this.#isolate([item]);
    return true;
  }

  /** The broker confirmed the cancel: nothing more arrives until consuming resumes. */
  paused(): void {
    if (this.#mode === 'isolating') this.#paused = true;
  }

  /** The held suspect that ran alone is settled. */
  ranAlone(): void {
    this.#running = false;
  }

  /** The broker has had every settle the channel sent before the `flush` step. */
  flushed(): void {
    if (this.#flush === 'pending') this.#flush = 'done';
  }

  /** What to do next, given how many deliveries are in flight. */
  next(inFlight: number, draining: boolean): GateStep<T> {
    if (this.#mode !== 'isolating' || !this.#paused || this.#running || this.#flush === 'pending') return WAIT;
    if (inFlight > 0) {
      // What is in flight settles after any flush so far: the suspect waits for a flush after it.
      this.#flush = 'none';
      return WAIT;
    }
    if (draining) {
      const items = this.#held.splice(0);
      this.reset();
      return { kind: 'give-back', items };
    }
    const item = this.#held[0];
    if (item !== undefined) {
      if (this.#flush !== 'done') {
        this.#flush = 'pending';
        return FLUSH;
      }
      this.#held.shift();
      // Its own settle is the next one a flush must wait for.
      this.#flush = 'none';
      this.#running = true;
      this.#ranSuspect = true;
      return { kind: 'run-alone', item };
    }
    this.#mode = this.#ranSuspect ? 'cautious' : 'flowing';
    return { kind: 'resume', prefetch: this.#ranSuspect ? 'one' : 'full' };
  }

  /** The channel closed (its deliveries, held ones too, are back in the queue) or the gate gave its suspects back. */
  reset(): void {
    this.#mode = 'flowing';
    this.#held = [];
    this.#paused = false;
    this.#running = false;
    this.#ranSuspect = false;
    this.#flush = 'none';
  }

  #isolate(held: T[]): void {
    this.#mode = 'isolating';
    this.#held = held;
    this.#paused = false;
    this.#running = false;
    this.#ranSuspect = false;
    this.#flush = 'none';
  }
}
