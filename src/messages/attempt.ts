import { HEADERS } from './headers.js';

/** The attempt number of a delivery: warren's header (1 when absent) plus the broker's redelivery count. */
export function attemptOf(headers: Readonly<Record<string, unknown>>): number {
  const base = Number(headers[HEADERS.attempt] ?? 1);
  const redeliveries = Number(headers['x-delivery-count'] ?? 0);
  return (
    (Number.isInteger(base) && base > 0 ? base : 1) +
    (Number.isInteger(redeliveries) && redeliveries > 0 ? redeliveries : 0)
  );
}
