/**
 * The lock of `warren dlq replay` for one job type: an exclusive, auto-deleted queue that only one connection can
 * hold. A second replay of the same job type fails to declare it (`RESOURCE_LOCKED`); the broker deletes it when
 * the holder's connection closes, a killed process included. Never carries messages.
 *
 * Built like the names in `topology/names`, where it belongs.
 */
export function replayLockQueue(namespace: string, jobType: string): string {
  return `${namespace}.replay-lock.${jobType}`;
}
