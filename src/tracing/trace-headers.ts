import { readText } from '../messages/read-headers.js';
import type { TraceGetter, TraceSetter } from './otel-api.js';

/** AMQP headers as the propagator sees them. */
export type HeaderTable = Record<string, unknown>;

/**
 * Reads trace context from AMQP headers. amqplib gives a string header as a string; a publisher that sent it as a
 * byte array (some clients do) gives a Buffer, read as UTF-8. Anything else is absent.
 */
export const HEADER_GETTER: TraceGetter<Readonly<HeaderTable>> = Object.freeze({
  get: (carrier: Readonly<HeaderTable>, key: string) => readText(carrier[key]),
  keys: (carrier: Readonly<HeaderTable>) => Object.keys(carrier),
});

/** Writes trace context into AMQP headers, as strings. */
export const HEADER_SETTER: TraceSetter<HeaderTable> = Object.freeze({
  set: (carrier: HeaderTable, key: string, value: string) => {
    carrier[key] = value;
  },
});
