import { HEADERS } from '../messages/headers.js';
import type { PublishOptions } from './publish-options.js';

/**
 * The headers of a job as published: the caller's, plus warren's own for a schedule's fire (`x-warren-schedule`)
 * and a child job (`x-warren-parent`, its parent's job id). The caller's object itself when there is nothing to add.
 */
export function publishHeaders(
  options: PublishOptions,
  parentId?: string,
): Readonly<Record<string, unknown>> | undefined {
  if (options.schedule === undefined && parentId === undefined) return options.headers;
  return {
    ...options.headers,
    ...(options.schedule === undefined ? {} : { [HEADERS.schedule]: options.schedule }),
    ...(parentId === undefined ? {} : { [HEADERS.parent]: parentId }),
  };
}
