/**
 * warren: background jobs on RabbitMQ. The public API; nothing else under `src/` is part of it.
 */
export { Job, jobMethods } from './registry/job-decorator.js';
export type { JobMethod } from './registry/job-decorator.js';
export { defineJob } from './registry/define-job.js';
export { DEFAULT_CONCURRENCY, isJobDefinition, prefetchOf } from './registry/job-definition.js';
export type { ChildJobOptions, JobContext, JobDefinition, JobHandler, JobOptions } from './registry/job-definition.js';
export type { JobMiddleware, MiddlewareContext } from './registry/job-definition.js';
export type { PublishCall, PublishMiddleware } from './publisher/publish-middleware.js';
export type { JobEvent, JobEventListener, JobEventMap, JobEventName } from './consumer/job-events.js';
export type { PayloadSchema, SchemaInput, SchemaOutput } from './registry/payload-schema.js';
export { Registry } from './registry/registry.js';
export type { HandlerClass, HandlerEntry } from './registry/registry.js';

export { WarrenClient } from './client/client.js';
export type { PayloadOf } from './client/client.js';
export type { ClientOptions } from './client/client-options.js';
export type { ConnectRetry } from './connection/broker-connection.js';
export type { PublishOptions, SchemaMap } from './publisher/publish-options.js';
export { Worker } from './worker/worker.js';
export type { ConsumedQueue, WorkerState } from './worker/worker.js';
export type { WorkerOptions } from './worker/worker-options.js';
export type { DeliveryOutcome } from './consumer/queue-consumer.js';
export { HealthServer } from './metrics/http-server.js';
export { WarrenMetrics } from './metrics/warren-metrics.js';
export type { ProcessOutcome, PublishOutcome } from './metrics/warren-metrics.js';
export type { HealthServerOptions } from './metrics/http-server.js';

export { defineSchedule } from './scheduler/schedule-definition.js';
export type { ScheduleDefinition, ScheduleInput } from './scheduler/schedule-definition.js';
export { Scheduler, fireMessageId } from './scheduler/scheduler.js';
export type { FireOutcome, ScheduleStatus, SchedulerOptions } from './scheduler/scheduler.js';
export type { RetryOptions } from './registry/job-definition.js';
export { MAX_DELAY_MS } from './topology/names.js';

export { loadConfig, configVariables, settingSource } from './config/load-config.js';
export type { LoadConfigOptions } from './config/load-config.js';
export { DEFAULT_CONFIG } from './config/config-options.js';
export type { WarrenConfig } from './config/config-options.js';
export { createLogger } from './logging/logger.js';
export { planTopology } from './topology/topology-plan.js';
export type { TopologyPlan, ExchangeSpec, QueueSpec, BindingSpec } from './topology/topology-plan.js';
export { deadExchange, deadQueue, jobQueue, jobsExchange } from './topology/names.js';
export { HEADERS } from './messages/headers.js';
export type { DeadLetterReason } from './messages/headers.js';

export { WarrenError, hasCode } from './errors/warren-error.js';
export type { WarrenErrorCode } from './errors/warren-error.js';
export { NonRetryableError } from './errors/non-retryable-error.js';
export { RetryableError } from './errors/retryable-error.js';
export type { RetryableErrorOptions } from './errors/retryable-error.js';
export { UnroutableError } from './errors/unroutable-error.js';
export { PayloadTooLargeError } from './errors/payload-too-large-error.js';
export { PayloadInvalidError } from './errors/payload-invalid-error.js';
export { PublishTimeoutError } from './errors/publish-timeout-error.js';
export { PublishRejectedError } from './errors/publish-rejected-error.js';
export { PublishOptionsError } from './errors/publish-options-error.js';
export { PublishBufferFullError } from './errors/publish-buffer-full-error.js';
export { ConnectionError } from './errors/connection-error.js';
export { TopologyConflictError } from './errors/topology-conflict-error.js';
export { ConfigError } from './errors/config-error.js';
export { IllegalStateError } from './errors/illegal-state-error.js';
export { RegistrationError } from './errors/registration-error.js';
export { JobTimeoutError } from './errors/job-timeout-error.js';
export { ChildPublishError } from './errors/child-publish-error.js';

export { DeadLetterAdmin } from './dlq/dead-letter-admin.js';
export type { DeadLetterQueueStats } from './dlq/dead-letter-admin.js';
export type { DeadLetterAdminOptions } from './dlq/dead-letter-admin-options.js';
export { DeadLetterReplay } from './dlq/dead-letter-replay.js';
export type {
  LegacyLedger,
  ReplayFailure,
  ReplayPlan,
  ReplayPlanEntry,
  ReplaySummary,
} from './dlq/dead-letter-replay.js';
export type { DeadLetterReplayOptions, ReplayProgress } from './dlq/dead-letter-replay-options.js';
export { readDeadLetterContext } from './dlq/dead-letter-context.js';
export type {
  DeadLetterContext,
  DeadLetterMessage,
  DeadLetterSettings,
  DeadLetterSource,
} from './dlq/dead-letter-context.js';

export { PROCESS_OUTCOMES, TRACE_ATTRIBUTES, TRACER_NAME } from './tracing/trace-attributes.js';
export type { ProcessSpanOutcome } from './tracing/trace-attributes.js';
