/**
 * The `amqpUrl` setting: one broker URL, or several separated by commas (the nodes of a cluster). Pure functions:
 * splitting and checking the list, redacting it for logs and messages, naming a node, and the order in which a
 * process tries the nodes.
 */

/** The URLs of an `amqpUrl` setting, in the order given (empty entries and spaces around commas dropped). */
export function brokerUrls(setting: string): string[] {
  return setting
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

/** Nodes one setting may name. */
export const MAX_BROKER_URLS = 32;

/**
 * What is wrong with an `amqpUrl` setting, in words that follow `<where> must be …; `, or `undefined`. Each entry
 * must be an `amqp://` or `amqps://` URL that parses; the entry at fault is named by its position and shown redacted.
 */
export function brokerUrlsProblem(setting: unknown): string | undefined {
  if (typeof setting !== 'string') return `got ${typeof setting}`;
  const urls = brokerUrls(setting);
  if (urls.length === 0) return 'got no URL';
  if (urls.length > MAX_BROKER_URLS) return `got ${urls.length} URLs; at most ${MAX_BROKER_URLS}`;
  for (const [i, url] of urls.entries()) {
    const which = urls.length === 1 ? '' : `entry ${i + 1} of ${urls.length}: `;
    if (!/^amqps?:\/\/\S+$/.test(url)) return `${which}got ${JSON.stringify(redactUrl(url))}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `${which}${JSON.stringify(redactUrl(url))} is not a valid URL`;
    }
    if (parsed.hostname === '') return `${which}${JSON.stringify(redactUrl(url))} names no host`;
  }
  const nodes = urls.map(nodeOf);
  const twice = nodes.find((node, i) => nodes.indexOf(node) !== i);
  if (twice !== undefined) return `${twice} is named twice`;
  return undefined;
}

/**
 * The setting (one URL or a comma-separated list) with every password replaced by `***`, for logs and error
 * messages.
 */
export function redactUrl(setting: string): string {
  return setting.includes(',') ? brokerUrls(setting).map(redactOne).join(',') : redactOne(setting);
}

function redactOne(url: string): string {
  try {
    const parsed = new URL(url.trim());
    if (parsed.password === '') return url;
    parsed.password = '***';
    const redacted = parsed.toString();
    // URL adds a slash after a bare host; keep what was given otherwise.
    return /^\s*[a-z][a-z0-9+.-]*:\/\/[^/]*$/i.test(url) && redacted.endsWith('/') ? redacted.slice(0, -1) : redacted;
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/g, '//$1:***@');
  }
}

/** The node a URL names, as `host:port` (the AMQP default port when it names none): no user, password or vhost. */
export function nodeOf(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672');
    return `${parsed.hostname}:${port}`;
  } catch {
    return redactUrl(url);
  }
}

/**
 * The order in which a process tries the nodes: the list as given, rotated to start at `seed` modulo its length.
 * Every process keeps the list's order (so an operator can read which node comes next) but starts elsewhere, so
 * that processes spread over the nodes instead of all piling onto the first; on each reconnect a connection moves
 * on to the next node in this order.
 */
export function connectionOrder<T>(urls: readonly T[], seed: number): T[] {
  if (urls.length <= 1) return [...urls];
  const start = ((Math.trunc(seed) % urls.length) + urls.length) % urls.length;
  return [...urls.slice(start), ...urls.slice(0, start)];
}

/**
 * A seed that differs between processes, also between hosts whose processes have the same pids (containers each
 * run theirs as pid 1): the host name's FNV-1a hash plus the pid.
 */
export function processSeed(host: string, pid: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < host.length; i += 1) {
    hash ^= host.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash + pid) >>> 0;
}
