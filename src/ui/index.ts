/**
 * `warren/ui`: the web UI as a request handler, to mount in an application's own HTTP server (`warren ui` serves
 * the same). An entry of its own, so that the package entry does not load it.
 */
export { createWarrenUi } from './warren-ui.js';
export type { WarrenUiHandler } from './warren-ui.js';
export { DEFAULT_UI_OPTIONS, DEFAULT_UI_PORT } from './warren-ui-options.js';
export type { WarrenUiOptions } from './warren-ui-options.js';
export { credentialsFromEnv, isLoopbackHost, requireCredentialsOffLoopback } from './basic-auth.js';
export type { UiCredentials } from './basic-auth.js';
export { CONTENT_SECURITY_POLICY } from './http-response.js';
export type {
  DeadLetterActions,
  DeadLetterReader,
  ManagedQueue,
  QueueListing,
  QueueProbe,
  ReplayRequest,
  ScheduleSource,
  UiJob,
  UiSources,
} from './ui-sources.js';
