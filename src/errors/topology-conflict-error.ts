import { WarrenError } from './warren-error.js';

/** Thrown at startup when an exchange or queue already exists with other arguments; the message names it and the argument. */
export class TopologyConflictError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_TOPOLOGY_CONFLICT', message, options);
  }
}
