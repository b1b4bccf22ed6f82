import { WarrenError } from './warren-error.js';

/** Thrown at startup when configuration is invalid; the message names the setting, what was expected and what was given. */
export class ConfigError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_CONFIG', message, options);
  }
}
