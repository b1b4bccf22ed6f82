/**
 * Header on a replayed dead letter: the identity of the dead letter it was replayed from (see
 * `readDeadLetterContext`). The replay ledger is read by it, so a replay that was killed knows what it already sent.
 *
 * Shares the `x-warren-` prefix with the names in `HEADERS`, where it belongs.
 */
export const REPLAY_OF_HEADER = 'x-warren-replay-of';
