/**
 * What a namespace or a job type may look like. Pure, and below every module that builds or checks a name: the
 * configuration, the topology's name functions, the registry, the client and the CLI all ask here.
 */

/** Namespaces and job types: letters, digits, "-" and "_" in dot-separated words; no AMQP wildcards. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** Longest namespace, in characters. */
export const MAX_NAMESPACE_LENGTH = 100;

/**
 * Longest job type, in characters. A job type is a routing key and part of queue names: the delay cascade's
 * routing key puts 56 characters before it, and AMQP caps both at 255 bytes.
 */
export const MAX_JOB_TYPE_LENGTH = 150;

/**
 * Why `value` is no job type, as the one message every check uses (registry, client, CLI, dlq tools):
 * `job type "email send" is not valid: use letters, …`; undefined if it is one.
 */
export function invalidJobType(value: unknown): string | undefined {
  const problem = jobTypeProblem(value);
  if (problem === undefined) return undefined;
  // A long string is described, not quoted whole: the message names the problem, not a 10 kB value.
  const shown =
    typeof value === 'string'
      ? value.length > 80
        ? `a string of ${Buffer.byteLength(value)} bytes`
        : JSON.stringify(value)
      : typeof value === 'object' && value !== null
        ? 'an object'
        : String(value);
  return `job type ${shown} is not valid: ${problem}`;
}

/** What is wrong with `value` as a job type, in words that fit after "job type X is not valid: "; undefined if nothing. */
function jobTypeProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `a job type is a string, not ${value === null ? 'null' : typeof value}`;
  if (!NAME_PATTERN.test(value) || value.length > MAX_JOB_TYPE_LENGTH) {
    return `use letters, digits, "-" and "_" in dot-separated words, at most ${MAX_JOB_TYPE_LENGTH} characters (it is the routing key)`;
  }
  return undefined;
}
