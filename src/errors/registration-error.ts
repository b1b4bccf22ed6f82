import { WarrenError } from './warren-error.js';

/**
 * Thrown when handlers are registered wrongly: a job type registered twice, an invalid job type name, a class without
 * `@Job` methods or whose constructor throws, an option out of range, a `schema` that is not a Standard Schema.
 */
export class RegistrationError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_REGISTRATION', message, options);
  }
}
