import { WarrenError } from './warren-error.js';

/** Thrown when the broker cannot be reached or refuses the connection (wrong credentials, unknown vhost, refused port). */
export class ConnectionError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_CONNECTION', message, options);
  }
}
