import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as otel from '@opentelemetry/api';
import * as semconv from '@opentelemetry/semantic-conventions/incubating';
import { afterAll, describe, expect, it } from 'vitest';
import type { OpenTelemetryApi } from '../../../src/tracing/otel-api.js';
import {
  MESSAGING_SYSTEM,
  SPAN_KIND,
  STATUS_ERROR,
  TRACE_ATTRIBUTES,
  errorType,
  serverAttributes,
} from '../../../src/tracing/trace-attributes.js';

// Compiled by `tsc --noEmit -p .`: the real API fits the part of it warren types out for itself.
const fits: OpenTelemetryApi = otel;

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'warren-otel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('@opentelemetry/api, as warren uses it', () => {
  it('has what warren types it as having, and the values it spells out', () => {
    expect(typeof fits.trace.getTracerProvider).toBe('function');
    expect(typeof new fits.ProxyTracerProvider().getDelegate).toBe('function');
    expect(SPAN_KIND).toEqual({
      internal: otel.SpanKind.INTERNAL,
      producer: otel.SpanKind.PRODUCER,
      consumer: otel.SpanKind.CONSUMER,
    });
    expect(STATUS_ERROR).toBe(otel.SpanStatusCode.ERROR);
  });

  it('the messaging names are those of the semantic conventions', () => {
    expect({
      messagingSystem: TRACE_ATTRIBUTES.messagingSystem,
      operationType: TRACE_ATTRIBUTES.operationType,
      operationName: TRACE_ATTRIBUTES.operationName,
      destinationName: TRACE_ATTRIBUTES.destinationName,
      subscriptionName: TRACE_ATTRIBUTES.subscriptionName,
      routingKey: TRACE_ATTRIBUTES.routingKey,
      deliveryTag: TRACE_ATTRIBUTES.deliveryTag,
      messageId: TRACE_ATTRIBUTES.messageId,
      bodySize: TRACE_ATTRIBUTES.bodySize,
      serverAddress: TRACE_ATTRIBUTES.serverAddress,
      serverPort: TRACE_ATTRIBUTES.serverPort,
      errorType: TRACE_ATTRIBUTES.errorType,
      system: MESSAGING_SYSTEM,
    }).toEqual({
      messagingSystem: semconv.ATTR_MESSAGING_SYSTEM,
      operationType: semconv.ATTR_MESSAGING_OPERATION_TYPE,
      operationName: semconv.ATTR_MESSAGING_OPERATION_NAME,
      destinationName: semconv.ATTR_MESSAGING_DESTINATION_NAME,
      subscriptionName: semconv.ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
      routingKey: semconv.ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
      deliveryTag: semconv.ATTR_MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG,
      messageId: semconv.ATTR_MESSAGING_MESSAGE_ID,
      bodySize: semconv.ATTR_MESSAGING_MESSAGE_BODY_SIZE,
      serverAddress: semconv.ATTR_SERVER_ADDRESS,
      serverPort: semconv.ATTR_SERVER_PORT,
      errorType: semconv.ATTR_ERROR_TYPE,
      system: semconv.MESSAGING_SYSTEM_VALUE_RABBITMQ,
    });
    for (const name of Object.values(TRACE_ATTRIBUTES).filter((n) => !n.startsWith('warren.')))
      expect(Object.values(semconv), name).toContain(name);
  });

  it('server.address and server.port from a node, error.type from a code or a name', () => {
    expect(serverAttributes('127.0.0.1:5672')).toEqual({ 'server.address': '127.0.0.1', 'server.port': 5672 });
    expect(serverAttributes('[::1]:5674')).toEqual({ 'server.address': '::1', 'server.port': 5674 });
    expect(serverAttributes('rabbit-1')).toEqual({ 'server.address': 'rabbit-1' });
    expect(serverAttributes(undefined)).toEqual({});
    expect(errorType(Object.assign(new Error('x'), { code: 'WARREN_ERR_UNROUTABLE' }))).toBe('WARREN_ERR_UNROUTABLE');
    expect(errorType(new TypeError('x'))).toBe('TypeError');
  });

  it('without the package installed: tracing is off, and nothing fails', async () => {
    // A process in which `@opentelemetry/api` cannot be resolved, as in an application that never installed it.
    const block = join(dir, 'no-otel.cjs');
    writeFileSync(
      block,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@opentelemetry/api') throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
`,
    );
    const script = `
      import { createRequire } from 'node:module';
      const { activeTracing } = await import('./src/tracing/otel-api.ts');
      const { startPublishSpan } = await import('./src/tracing/publish-span.ts');
      let blocked = false;
      try { createRequire(import.meta.url)('@opentelemetry/api'); } catch { blocked = true; }
      const properties = { headers: { a: 1 } };
      console.log(JSON.stringify({
        blocked,
        active: activeTracing() !== undefined,
        again: activeTracing() !== undefined,
        span: startPublishSpan('x', 'y', Buffer.from('{}'), properties, undefined, undefined) !== undefined,
      }));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--require', block, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT },
    );
    expect(JSON.parse(stdout)).toEqual({ blocked: true, active: false, again: false, span: false });
  });
});
