import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import type { Registry } from '../registry/registry.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import type { UiCredentials } from './basic-auth.js';
import type { UiSources } from './ui-sources.js';

/** Options of {@link createWarrenUi}. */
export interface WarrenUiOptions {
  /**
   * Settings; missing ones come from `loadConfig()` (config file and `WARREN_*` variables), as for `WarrenClient`:
   * the broker, the namespace, Redis.
   */
  readonly config?: Partial<WarrenConfig>;
  readonly logger?: Logger;
  /** The job types of the handlers module (their queues and retry tiers); others are found by their queues. */
  readonly registry?: Registry;
  /** The schedules to show and trigger (as `warren schedules` loads them). */
  readonly schedules?: readonly ScheduleDefinition[];
  /** The path the UI is mounted under in the application's server, e.g. `/warren`. @defaultValue `''` */
  readonly basePath?: string;
  /** No action at all: no buttons, and every POST is refused. @defaultValue false */
  readonly readOnly?: boolean;
  /** HTTP basic auth; without it, anyone who reaches the UI may use it. */
  readonly auth?: UiCredentials;
  /**
   * Host names (no port) the UI answers to: a request for another `Host` is refused, which keeps other web sites out
   * through DNS rebinding. @defaultValue `['localhost', '127.0.0.1', '[::1]']` without `auth`; any host with `auth`
   */
  readonly allowedHosts?: readonly string[];
  /**
   * Origins (`https://ops.example.com`) besides the UI's own from which state-changing requests are accepted: for a
   * proxy that rewrites the `Host` header. @defaultValue none
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * RabbitMQ's management API, for unacknowledged counts, rates and the job types that are not in the handlers
   * module; `'none'` turns it off. @defaultValue `http://<broker host>:15672` (15671 over TLS) with the AMQP user
   */
  readonly managementUrl?: string;
  /**
   * The secret CSRF tokens are signed with, at least 32 bytes: give the same one to every replica behind one address.
   * @defaultValue 32 random bytes per process
   */
  readonly csrfSecret?: Buffer;
  /**
   * Dead letters read from the head of a queue for the list (where filters and pages apply) and the detail page; also
   * how far a replay by message id looks. @defaultValue 1000
   */
  readonly scanLimit?: number;
  /** Dead letters per page, 1-100 (a selection from one page fits one replay by message id). @defaultValue 50 */
  readonly pageSize?: number;
  /** Characters of a payload shown before "Show all". @defaultValue 20000 */
  readonly payloadPreviewChars?: number;
  /** Seconds between refreshes of the overview's table. @defaultValue 5 */
  readonly refreshSeconds?: number;
  /** What the UI reads and acts through; by default warren's own classes on the configured broker and Redis. */
  readonly sources?: UiSources;
}

/** Defaults of {@link WarrenUiOptions}. */
export const DEFAULT_UI_OPTIONS = Object.freeze({
  basePath: '',
  readOnly: false,
  scanLimit: 1_000,
  pageSize: 50,
  payloadPreviewChars: 20_000,
  refreshSeconds: 5,
  loopbackHosts: Object.freeze(['localhost', '127.0.0.1', '[::1]']),
});

/** The port `warren ui` listens on unless told otherwise (beside `warren start`'s 9464). */
export const DEFAULT_UI_PORT = 9465;
