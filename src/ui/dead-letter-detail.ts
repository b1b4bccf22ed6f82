import type { DeadLetterContext, DeadLetterMessage } from '../dlq/dead-letter-context.js';
import { HEADER_PREFIX } from '../messages/headers.js';
import { deadQueue } from '../topology/names.js';
import type { DeadLetterReader } from './ui-sources.js';

/** A payload as the detail page shows it. */
export interface PayloadView {
  /** Pretty-printed JSON, or the text as it is, or base64 for a body that is not UTF-8; cut at the preview limit. */
  readonly text: string;
  readonly format: 'json' | 'text' | 'base64';
  /** True when `text` is cut short; the page then offers the whole of it. */
  readonly truncated: boolean;
  /** Characters of the whole (pretty-printed) text. */
  readonly totalChars: number;
  readonly bytes: number;
}

/** One header as text: warren's own (`x-warren-*`) and the others, each listed. */
export interface HeaderView {
  readonly name: string;
  readonly value: string;
}

/** The detail page of one dead letter. */
export interface DeadLetterDetail {
  readonly jobType: string;
  readonly queue: string;
  /** 1-based place from the head at the time of reading. */
  readonly position: number;
  readonly context: Omit<DeadLetterContext, 'body'>;
  readonly payload: PayloadView;
  /** Every `x-warren-*` header, as sent, in name order. */
  readonly warrenHeaders: readonly HeaderView[];
  /** Every other header (the broker's `x-death`, the application's own), in name order. */
  readonly otherHeaders: readonly HeaderView[];
}

/**
 * The payload as the page shows it: JSON pretty-printed (2 spaces) when the body parses as JSON, text as it is, a
 * body that is not UTF-8 as base64; cut after `limitChars` characters unless `full`. Pure.
 */
export function payloadView(
  context: Pick<DeadLetterContext, 'body' | 'bodyEncoding' | 'bodyBytes'>,
  limitChars: number,
  full: boolean,
): PayloadView {
  let text = context.body;
  let format: PayloadView['format'] = context.bodyEncoding === 'base64' ? 'base64' : 'text';
  if (format === 'text') {
    try {
      text = JSON.stringify(JSON.parse(context.body), null, 2);
      format = 'json';
    } catch {
      // Not JSON: shown as the text it is.
    }
  }
  const truncated = !full && text.length > limitChars;
  return {
    text: truncated ? text.slice(0, limitChars) : text,
    format,
    truncated,
    totalChars: text.length,
    bytes: context.bodyBytes,
  };
}

/** A header value as one line of text: strings as they are, byte arrays as UTF-8, tables and lists as JSON. Pure. */
export function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return '';
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (Buffer.isBuffer(inner)) return inner.toString('utf8');
    if (typeof inner === 'bigint') return String(inner);
    // amqplib's typed values: a timestamp as { '!': 'timestamp', value: seconds }.
    if (typeof inner === 'object' && inner !== null && (inner as { '!'?: unknown })['!'] === 'timestamp') {
      const seconds = (inner as { value?: unknown }).value;
      return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : inner;
    }
    // JSON.stringify gives a Buffer's toJSON() to the replacer, not the Buffer.
    if (typeof inner === 'object' && inner !== null && (inner as { type?: unknown }).type === 'Buffer') {
      const data = (inner as { data?: unknown }).data;
      return Array.isArray(data) ? Buffer.from(data as number[]).toString('utf8') : inner;
    }
    return inner;
  });
}

/** A message's headers, split into warren's and the others, each sorted by name. Pure. */
export function splitHeaders(message: DeadLetterMessage): { warren: HeaderView[]; other: HeaderView[] } {
  const headers = message.properties.headers;
  const entries =
    typeof headers === 'object' && headers !== null ? Object.entries(headers as Record<string, unknown>) : [];
  const views = entries
    .map(([name, value]) => ({ name, value: headerText(value) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    warren: views.filter((view) => view.name.startsWith(HEADER_PREFIX)),
    other: views.filter((view) => !view.name.startsWith(HEADER_PREFIX)),
  };
}

/**
 * One dead letter, found by its identity among the first `scanLimit` of the queue (read like the list: all of them,
 * given back, so that the order of the queue stays as the list showed it). Only the one found keeps its body.
 * Resolves `undefined` when none of those has that identity (replayed, purged, or further back).
 * @throws ConfigError when the job type has no dead-letter queue
 */
export async function readDeadLetterDetail(
  reader: DeadLetterReader,
  input: {
    readonly namespace: string;
    readonly jobType: string;
    readonly identity: string;
    readonly scanLimit: number;
    readonly previewChars: number;
    readonly full: boolean;
  },
): Promise<DeadLetterDetail | undefined> {
  let found: { context: DeadLetterContext; message: DeadLetterMessage; position: number } | undefined;
  let position = 0;
  await reader.scan(input.jobType, input.scanLimit, (context, message) => {
    position += 1;
    if (found === undefined && context.identity === input.identity) found = { context, message, position };
  });
  if (found === undefined) return undefined;
  const { body: _body, ...context } = found.context;
  const headers = splitHeaders(found.message);
  return {
    jobType: input.jobType,
    queue: deadQueue(input.namespace, input.jobType),
    position: found.position,
    context,
    payload: payloadView(found.context, input.previewChars, input.full),
    warrenHeaders: headers.warren,
    otherHeaders: headers.other,
  };
}
