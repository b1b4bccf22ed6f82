import type { Options } from 'amqplib';
import { JSON_CONTENT_TYPE } from './headers.js';

/** The AMQP properties warren sets on a job it publishes (the wire contract). */
export function jobProperties(
  jobType: string,
  messageId: string,
  headers?: Record<string, unknown>,
  nowMs: number = Date.now(),
): Options.Publish {
  return {
    messageId,
    type: jobType,
    // AMQP timestamps are whole seconds since the epoch.
    timestamp: Math.floor(nowMs / 1000),
    contentType: JSON_CONTENT_TYPE,
    persistent: true,
    mandatory: true,
    ...(headers === undefined ? {} : { headers }),
  };
}

/** Encodes a payload as JSON, or returns an error message when it cannot be. */
export function encodePayload(payload: unknown): Buffer | string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    return `the payload cannot be encoded as JSON: ${(error as Error).message}`;
  }
  if (text === undefined) return `the payload cannot be encoded as JSON (got ${typeof payload})`;
  return Buffer.from(text, 'utf8');
}
