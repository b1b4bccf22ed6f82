import { brokerUrls } from '../config/broker-urls.js';
import type { ManagedQueue, QueueListing } from './ui-sources.js';

/** How long one request to the management API may take: the overview waits for it. */
const REQUEST_TIMEOUT_MS = 2_000;
/** Queues per page of the listing, and the most pages read (a namespace has about two queues per job type). */
const PAGE_SIZE = 500;
const MAX_PAGES = 10;

/** Where the management API is, and how to log in, without credentials in the URL (fetch refuses those). */
export interface ManagementEndpoint {
  /** `http://host:15672`, no credentials, no trailing slash. */
  readonly base: string;
  readonly user: string;
  readonly password: string;
  /** The vhost the namespace's queues are in. */
  readonly vhost: string;
}

/**
 * The management API beside the broker of `amqpUrl` (its first node): `http://<host>:15672` for `amqp://`,
 * `https://<host>:15671` for `amqps://`, with the AMQP URL's user, password and vhost (RabbitMQ's defaults:
 * guest/guest, `/`). `url`, when given, replaces the base (and its credentials, when it has some). Pure.
 */
export function managementEndpoint(amqpUrl: string, url?: string): ManagementEndpoint {
  const amqp = new URL(brokerUrls(amqpUrl)[0] ?? amqpUrl);
  const vhost = amqp.pathname.length > 1 ? decodeURIComponent(amqp.pathname.slice(1)) : '/';
  const target = new URL(url ?? `${amqp.protocol === 'amqps:' ? 'https' : 'http'}://${amqp.host}`);
  if (url === undefined) target.port = amqp.protocol === 'amqps:' ? '15671' : '15672';
  const user = decodeURIComponent(target.username || amqp.username || 'guest');
  const password = decodeURIComponent(target.password || amqp.password || 'guest');
  target.username = '';
  target.password = '';
  return { base: `${target.origin}${target.pathname.replace(/\/$/, '')}`, user, password, vhost };
}

/** What the management API returns for a queue, as far as it is read here. */
interface QueueJson {
  readonly name?: unknown;
  readonly messages?: unknown;
  readonly messages_ready?: unknown;
  readonly messages_unacknowledged?: unknown;
  readonly consumers?: unknown;
  readonly message_stats?: {
    readonly publish_details?: { readonly rate?: unknown };
    readonly deliver_get_details?: { readonly rate?: unknown };
    readonly ack_details?: { readonly rate?: unknown };
  };
}

const COLUMNS = [
  'name',
  'messages',
  'messages_ready',
  'messages_unacknowledged',
  'consumers',
  'message_stats.publish_details.rate',
  'message_stats.deliver_get_details.rate',
  'message_stats.ack_details.rate',
].join(',');

/**
 * Lists a namespace's job, dead-letter and retry queues through RabbitMQ's management HTTP API (`GET
 * /api/queues/<vhost>`, filtered by a name pattern, paged): what AMQP cannot tell — which queues exist, the
 * unacknowledged counts, the rates. Read-only.
 */
export class ManagementApi implements QueueListing {
  readonly #endpoint: ManagementEndpoint;
  readonly #fetch: typeof fetch;

  constructor(endpoint: ManagementEndpoint, fetchImpl: typeof fetch = fetch) {
    this.#endpoint = endpoint;
    this.#fetch = fetchImpl;
  }

  get describe(): string {
    return `${this.#endpoint.base} (vhost ${this.#endpoint.vhost})`;
  }

  /** @throws Error saying what the API answered, or that it did not */
  async queues(namespace: string): Promise<readonly ManagedQueue[]> {
    const pattern = `^${namespace.replace(/[.]/g, '\\.')}\\.(job|dead|retry)\\.`;
    const queues: ManagedQueue[] = [];
    for (let page = 1; page <= MAX_PAGES; page += 1) {
      const query = new URLSearchParams({
        page: String(page),
        page_size: String(PAGE_SIZE),
        name: pattern,
        use_regex: 'true',
        columns: COLUMNS,
      });
      const body = (await this.#get(`/api/queues/${encodeURIComponent(this.#endpoint.vhost)}?${query.toString()}`)) as {
        items?: unknown;
        page_count?: unknown;
      };
      const items = Array.isArray(body.items) ? (body.items as QueueJson[]) : [];
      for (const item of items) if (typeof item.name === 'string') queues.push(toQueue(item));
      if (typeof body.page_count !== 'number' || page >= body.page_count) break;
    }
    return queues;
  }

  async #get(path: string): Promise<unknown> {
    const { base, user, password } = this.#endpoint;
    let response: Response;
    try {
      response = await this.#fetch(`${base}${path}`, {
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new Error(`the management API at ${base} did not answer: ${(error as Error).message}`, { cause: error });
    }
    if (!response.ok) {
      throw new Error(`the management API at ${base} answered HTTP ${response.status} ${response.statusText}`);
    }
    return response.json();
  }
}

function toQueue(item: QueueJson): ManagedQueue {
  const stats = item.message_stats;
  return {
    name: String(item.name),
    messages: count(item.messages),
    ready: count(item.messages_ready),
    unacknowledged: count(item.messages_unacknowledged),
    consumers: count(item.consumers),
    publishRate: rate(stats?.publish_details?.rate),
    deliverRate: rate(stats?.deliver_get_details?.rate),
    ackRate: rate(stats?.ack_details?.rate),
  };
}

/** A count, or `undefined` when it is missing (not sampled yet) or not one: never a 0 the API did not say. */
function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function rate(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
