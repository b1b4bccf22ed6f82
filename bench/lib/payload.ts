/** The job every scenario sends: about 200 bytes of JSON (≈210 encoded), with a high-resolution send time. */
export interface BenchPayload {
  readonly seq: number;
  /** Epoch milliseconds with sub-millisecond resolution (`performance.timeOrigin + performance.now()`). */
  readonly sentAt: number;
  /** Sent during a warm-up phase: not measured. */
  readonly warm: boolean;
  readonly orderId: string;
  readonly customerId: string;
  readonly email: string;
  readonly sku: string;
  readonly quantity: number;
  readonly unitPrice: number;
  readonly currency: string;
}

/** The job type (and routing key) used by every system. */
export const JOB_TYPE = 'bench.noop';

/** A clock shared by publishers and handlers, comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function makePayload(seq: number, warm = false): BenchPayload {
  return {
    seq,
    sentAt: nowMs(),
    warm,
    orderId: `ord-${String(seq).padStart(8, '0')}`,
    customerId: 'cus-4f3a9c21',
    email: 'c.4f3a9c21@example.com',
    sku: 'SKU-7731-BLU',
    quantity: 2,
    unitPrice: 19.99,
    currency: 'EUR',
  };
}
