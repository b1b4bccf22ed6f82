/**
 * Every exchange and queue name warren uses, built in one place from the namespace.
 * Pure functions: names must read well in the RabbitMQ management UI.
 */

/** Namespaces and job types: letters, digits, "-" and "_" in dot-separated words; no AMQP wildcards. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** Topic exchange producers publish to; routing key = job type. */
export function jobsExchange(namespace: string): string {
  return `${namespace}.jobs`;
}

/** Direct exchange for dead letters; routing key = job type. */
export function deadExchange(namespace: string): string {
  return `${namespace}.dead`;
}

/** The queue of one job type. */
export function jobQueue(namespace: string, jobType: string): string {
  return `${namespace}.job.${jobType}`;
}

/** The dead-letter queue of one job type. */
export function deadQueue(namespace: string, jobType: string): string {
  return `${namespace}.dead.${jobType}`;
}
