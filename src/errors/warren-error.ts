/** Every error code warren throws. Decisions read the code, never the message text. */
export type WarrenErrorCode =
  | 'WARREN_ERR_CONFIG'
  | 'WARREN_ERR_ILLEGAL_STATE'
  | 'WARREN_ERR_NON_RETRYABLE'
  | 'WARREN_ERR_RETRYABLE'
  | 'WARREN_ERR_UNROUTABLE'
  | 'WARREN_ERR_PAYLOAD_TOO_LARGE'
  | 'WARREN_ERR_PAYLOAD_INVALID'
  | 'WARREN_ERR_PUBLISH_TIMEOUT'
  | 'WARREN_ERR_PUBLISH_REJECTED'
  | 'WARREN_ERR_PUBLISH_OPTIONS'
  | 'WARREN_ERR_PUBLISH_BUFFER_FULL'
  | 'WARREN_ERR_CONNECTION'
  | 'WARREN_ERR_TOPOLOGY_CONFLICT'
  | 'WARREN_ERR_REGISTRATION'
  | 'WARREN_ERR_JOB_TIMEOUT'
  | 'WARREN_ERR_CHILD_PUBLISH'
  | 'WARREN_ERR_TEST_BROKER_UNAVAILABLE';

/**
 * Base class of every error warren throws, with a stable {@link WarrenError.code}.
 * The native `cause` is carried when there is one.
 */
export class WarrenError extends Error {
  readonly code: WarrenErrorCode;

  constructor(code: WarrenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `error` is a warren error with the given code (works across copies of the package). */
export function hasCode(error: unknown, code: WarrenErrorCode): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
