import { describe, expect, it } from 'vitest';
import { readDeadLetterContext } from 'warren';
import { headerText, payloadView, readDeadLetterDetail, splitHeaders } from '../../../src/ui/dead-letter-detail.js';
import { parseDeadLetterQuery, readDeadLetterList, type DeadLetterQuery } from '../../../src/ui/dead-letter-list.js';
import { ManagementApi, managementEndpoint } from '../../../src/ui/management-api.js';
import { buildOverview, loadOverview, namesFromQueues } from '../../../src/ui/overview-data.js';
import { fakeDeadLetter, fakeSources } from '../../helpers/ui-fakes.js';

const query = (overrides: Partial<DeadLetterQuery> = {}): DeadLetterQuery => ({
  reason: '',
  text: '',
  page: 1,
  ...overrides,
});

describe('overview', () => {
  const jobs = [
    { jobType: 'email.send', tiersMs: [1_000, 30_000] },
    { jobType: 'report.generate', tiersMs: [30_000] },
  ];

  it('a row per registered job type, then those found only by their queues; tiers by delay, with who uses them', async () => {
    const { sources } = fakeSources({
      queues: {
        'warren.job.email.send': { messages: 12, consumers: 2 },
        'warren.dead.email.send': { messages: 3, consumers: 0 },
        'warren.job.legacy.thing': { messages: 1, consumers: 0 },
        'warren.dead.legacy.thing': { messages: 0, consumers: 0 },
        'warren.retry.1s': { messages: 4, consumers: 0 },
        'warren.retry.30s': { messages: 9, consumers: 0 },
        'warren.retry.2m': { messages: 0, consumers: 0 },
      },
      managed: [
        {
          name: 'warren.job.email.send',
          messages: 15,
          ready: 12,
          unacknowledged: 3,
          consumers: 2,
          publishRate: 4.25,
          deliverRate: 4,
          ackRate: 3.5,
        },
        {
          name: 'warren.job.legacy.thing',
          messages: 1,
          ready: 1,
          unacknowledged: 0,
          consumers: 0,
          publishRate: undefined,
          deliverRate: undefined,
          ackRate: undefined,
        },
        {
          name: 'warren.dead.legacy.thing',
          messages: 0,
          ready: 0,
          unacknowledged: 0,
          consumers: 0,
          publishRate: undefined,
          deliverRate: undefined,
          ackRate: undefined,
        },
        {
          name: 'warren.retry.2m',
          messages: 0,
          ready: 0,
          unacknowledged: 0,
          consumers: 0,
          publishRate: undefined,
          deliverRate: undefined,
          ackRate: undefined,
        },
      ],
    });
    const overview = await loadOverview('warren', jobs, sources.queues, sources.listing);
    expect(overview.management).toEqual({ state: 'used', where: 'http://127.0.0.1:15672 (vhost /)' });
    expect(overview.rows.map((row) => [row.jobType, row.registered])).toEqual([
      ['email.send', true],
      ['report.generate', true],
      ['legacy.thing', false],
    ]);
    const [email, report] = overview.rows;
    expect(email?.job).toMatchObject({
      declared: true,
      depth: 15,
      ready: 12,
      unacknowledged: 3,
      consumers: 2,
      publishRate: 4.25,
      ackRate: 3.5,
    });
    expect(email?.dead).toMatchObject({ name: 'warren.dead.email.send', declared: true, ready: 3 });
    expect(email?.tiers).toEqual(['1s', '30s']);
    // Not declared yet: known to be absent, counts not known.
    expect(report?.job).toMatchObject({ declared: false, ready: undefined, unacknowledged: undefined });
    expect(overview.tiers.map((tier) => [tier.tier, tier.ready, tier.usedBy])).toEqual([
      ['1s', 4, ['email.send']],
      ['30s', 9, ['email.send', 'report.generate']],
      ['2m', 0, []],
    ]);
    expect(overview.problems).toEqual([]);
  });

  it('without the management API: ready and consumers only, and says why; a probe failure is a problem, once', async () => {
    const { sources } = fakeSources({
      managed: new Error('the management API at http://x did not answer: ECONNREFUSED'),
    });
    let asked = 0;
    const failing = {
      status: async () => {
        asked += 1;
        return Promise.reject(new Error('not connected to RabbitMQ'));
      },
    };
    const overview = await loadOverview('warren', jobs, failing, sources.listing);
    expect(overview.management).toMatchObject({ state: 'unreachable', reason: expect.stringMatching(/ECONNREFUSED/) });
    expect(overview.problems).toEqual(['not connected to RabbitMQ']);
    // The first failure ends the probing: at most one batch of probes was sent.
    expect(asked).toBeLessThanOrEqual(8);
    expect(overview.rows[0]?.job).toMatchObject({ declared: undefined, ready: undefined });
    const off = buildOverview({
      namespace: 'warren',
      jobs,
      probes: new Map(),
      managed: undefined,
      management: { state: 'off' },
    });
    expect(off.rows).toHaveLength(2);
  });

  it('reads job types and tiers from queue names, and nothing else of the namespace', () => {
    expect(
      namesFromQueues('ns.a', [
        'ns.a.job.x.y',
        'ns.a.dead.z',
        'ns.a.retry.30s',
        'ns.a.retry.nonsense',
        'ns.a.delay.04',
        'ns.a.replay-lock.x',
        'other.job.q',
      ]),
    ).toEqual({ jobTypes: ['x.y', 'z'], tiers: ['30s'] });
  });
});

describe('the dead-letter list', () => {
  const messages = Array.from({ length: 120 }, (_, n) =>
    fakeDeadLetter(`m-${n}`, {
      reason: n % 3 === 0 ? 'non_retryable' : 'exhausted',
      errorMessage: n % 10 === 0 ? `Customer ${n} not found` : `421 try again later`,
    }),
  );

  it('counts, pages and keeps only the page it shows', async () => {
    const { sources, calls } = fakeSources({ deadLetters: { 'email.send': messages } });
    const input = { namespace: 'warren', jobType: 'email.send', scanLimit: 1_000, pageSize: 50, readLegacy: false };
    const first = await readDeadLetterList(sources.deadLetters, { ...input, query: query() });
    expect(first).toMatchObject({ inQueue: 120, read: 120, matching: 120, pageCount: 3, unreadLegacy: false });
    expect(first.rows.map((row) => row.position)).toEqual(Array.from({ length: 50 }, (_, n) => n + 1));
    expect(first.reasons).toEqual([
      ['exhausted', 80],
      ['non_retryable', 40],
    ]);
    const last = await readDeadLetterList(sources.deadLetters, { ...input, query: query({ page: 3 }) });
    expect(last.rows.map((row) => row.messageId)).toEqual(Array.from({ length: 20 }, (_, n) => `m-${n + 100}`));
    const beyond = await readDeadLetterList(sources.deadLetters, { ...input, query: query({ page: 9 }) });
    expect(beyond.rows).toEqual([]);
    // Each page read the same dead letters from the head: all 120 (fewer than scanLimit).
    expect(calls.scanned).toBe(360);
  });

  it('filters by reason and by text in the error or the message id, case-insensitive', async () => {
    const { sources } = fakeSources({ deadLetters: { 'email.send': messages } });
    const input = { namespace: 'warren', jobType: 'email.send', scanLimit: 1_000, pageSize: 50, readLegacy: false };
    const byReason = await readDeadLetterList(sources.deadLetters, {
      ...input,
      query: query({ reason: 'non_retryable' }),
    });
    expect(byReason.matching).toBe(40);
    expect(byReason.rows.every((row) => row.reason === 'non_retryable')).toBe(true);
    const byText = await readDeadLetterList(sources.deadLetters, { ...input, query: query({ text: 'CUSTOMER' }) });
    expect(byText.rows.map((row) => row.messageId)).toEqual(Array.from({ length: 12 }, (_, n) => `m-${n * 10}`));
    const both = await readDeadLetterList(sources.deadLetters, {
      ...input,
      query: query({ reason: 'non_retryable', text: 'customer' }),
    });
    // n divisible by 10 and by 3: 0, 30, 60, 90.
    expect(both.rows.map((row) => row.messageId)).toEqual(['m-0', 'm-30', 'm-60', 'm-90']);
    const byId = await readDeadLetterList(sources.deadLetters, { ...input, query: query({ text: 'm-117' }) });
    expect(byId.rows.map((row) => row.messageId)).toEqual(['m-117']);
    // The reasons offered are those of everything read, whatever the filter.
    expect(both.reasons).toHaveLength(2);
  });

  it('at depth reads only scanLimit from the head, and says how many there are', async () => {
    const { sources, calls } = fakeSources({ deadLetters: { 'email.send': messages } });
    const list = await readDeadLetterList(sources.deadLetters, {
      namespace: 'warren',
      jobType: 'email.send',
      scanLimit: 30,
      pageSize: 25,
      readLegacy: false,
      query: query({ page: 2 }),
    });
    expect(list).toMatchObject({ inQueue: 120, read: 30, matching: 30, pageCount: 2 });
    expect(list.rows.map((row) => row.messageId)).toEqual(['m-25', 'm-26', 'm-27', 'm-28', 'm-29']);
    expect(calls.scanned).toBe(30);
  });

  it('does not read a legacy queue unless asked; an empty queue is not read at all', async () => {
    const { sources, calls } = fakeSources({
      deadLetters: { 'email.send': messages, 'empty.one': [] },
      legacy: ['email.send'],
    });
    const input = { namespace: 'warren', scanLimit: 1_000, pageSize: 50, query: query() };
    const unread = await readDeadLetterList(sources.deadLetters, {
      ...input,
      jobType: 'email.send',
      readLegacy: false,
    });
    expect(unread).toMatchObject({ unreadLegacy: true, inQueue: 120, read: 0, rows: [] });
    expect(calls.scanned).toBe(0);
    const read = await readDeadLetterList(sources.deadLetters, { ...input, jobType: 'email.send', readLegacy: true });
    expect(read).toMatchObject({ unreadLegacy: false, read: 120 });
    const empty = await readDeadLetterList(sources.deadLetters, { ...input, jobType: 'empty.one', readLegacy: false });
    expect(empty).toMatchObject({ inQueue: 0, read: 0, rows: [] });
  });

  it('reads the query string leniently', () => {
    expect(parseDeadLetterQuery(new URLSearchParams('reason=exhausted&q=%20boom%20&page=3'))).toEqual({
      reason: 'exhausted',
      text: 'boom',
      page: 3,
    });
    expect(parseDeadLetterQuery(new URLSearchParams('page=-2'))).toEqual({ reason: '', text: '', page: 1 });
    expect(parseDeadLetterQuery(new URLSearchParams('page=abc')).page).toBe(1);
  });
});

describe('the detail of a dead letter', () => {
  it('finds it by identity, keeps its body only, splits the headers, pretty-prints the payload', async () => {
    const messages = [
      fakeDeadLetter('a'),
      fakeDeadLetter('b', { body: '{"to":"x@example.com","n":[1,2]}' }),
      fakeDeadLetter('c'),
    ];
    const { sources } = fakeSources({ deadLetters: { 'email.send': messages } });
    const identity = readDeadLetterContext(messages[1]!).identity;
    const detail = await readDeadLetterDetail(sources.deadLetters, {
      namespace: 'warren',
      jobType: 'email.send',
      identity,
      scanLimit: 1_000,
      previewChars: 1_000,
      full: false,
    });
    expect(detail).toMatchObject({
      position: 2,
      queue: 'warren.dead.email.send',
      context: { messageId: 'b', reason: 'exhausted' },
    });
    expect(detail?.payload).toEqual({
      text: '{\n  "to": "x@example.com",\n  "n": [\n    1,\n    2\n  ]\n}',
      format: 'json',
      truncated: false,
      totalChars: 54,
      bytes: 32,
    });
    expect(detail?.warrenHeaders.map((header) => header.name)).toEqual([
      'x-warren-attempt',
      'x-warren-error-message',
      'x-warren-error-name',
      'x-warren-error-stack',
      'x-warren-first-failure-at',
      'x-warren-last-failure-at',
      'x-warren-reason',
      'x-warren-worker-host',
      'x-warren-worker-pid',
    ]);
    expect(detail?.otherHeaders).toEqual([{ name: 'x-app-tag', value: 'kept' }]);
    const missing = await readDeadLetterDetail(sources.deadLetters, {
      namespace: 'warren',
      jobType: 'email.send',
      identity: 'nope|x',
      scanLimit: 1_000,
      previewChars: 1_000,
      full: false,
    });
    expect(missing).toBeUndefined();
  });

  it('cuts a long payload unless all of it is asked for; text and binary are shown as they are', () => {
    const big = { body: 'x'.repeat(50), bodyEncoding: 'utf8' as const, bodyBytes: 50 };
    expect(payloadView(big, 20, false)).toMatchObject({
      text: 'x'.repeat(20),
      format: 'text',
      truncated: true,
      totalChars: 50,
    });
    expect(payloadView(big, 20, true)).toMatchObject({ text: 'x'.repeat(50), truncated: false });
    expect(payloadView({ body: 'AAEC', bodyEncoding: 'base64', bodyBytes: 3 }, 20, false)).toMatchObject({
      format: 'base64',
      text: 'AAEC',
    });
  });

  it('shows header values of every type as text', () => {
    expect(headerText(Buffer.from('bytes'))).toBe('bytes');
    expect(headerText(3)).toBe('3');
    expect(
      headerText([
        { reason: 'delivery_limit', time: { '!': 'timestamp', value: 1_772_446_000 }, queue: Buffer.from('q') },
      ]),
    ).toBe('[{"reason":"delivery_limit","time":"2026-03-02T10:06:40.000Z","queue":"q"}]');
    expect(splitHeaders({ content: Buffer.alloc(0), properties: {} })).toEqual({ warren: [], other: [] });
  });
});

describe('the management API', () => {
  it('is found beside the broker, with its credentials and vhost; an explicit URL replaces the address', () => {
    expect(managementEndpoint('amqp://app:s%40cret@rabbit.internal:5672/prod')).toEqual({
      base: 'http://rabbit.internal:15672',
      user: 'app',
      password: 's@cret',
      vhost: 'prod',
    });
    expect(managementEndpoint('amqps://rabbit:5671,amqps://rabbit-2:5671')).toMatchObject({
      base: 'https://rabbit:15671',
      user: 'guest',
      vhost: '/',
    });
    expect(managementEndpoint('amqp://guest:guest@127.0.0.1:5672', 'http://admin:pw@mgmt:8080/rabbit/')).toEqual({
      base: 'http://mgmt:8080/rabbit',
      user: 'admin',
      password: 'pw',
      vhost: '/',
    });
  });

  it("lists the namespace's queues page by page, with counts and rates (not known before the first sample)", async () => {
    const asked: string[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      asked.push(url);
      expect((init.headers as Record<string, string>).authorization).toBe(
        `Basic ${Buffer.from('guest:guest').toString('base64')}`,
      );
      const page = Number(new URL(url).searchParams.get('page'));
      const items =
        page === 1
          ? [
              {
                name: 'warren.job.a',
                messages: 5,
                messages_ready: 3,
                messages_unacknowledged: 2,
                consumers: 1,
                message_stats: { publish_details: { rate: 1.5 } },
              },
            ]
          : [
              { name: 'warren.dead.a', messages: 1, messages_ready: 1, messages_unacknowledged: 0, consumers: 0 },
              // Declared a moment ago: listed before its first statistics sample, without counts.
              { name: 'warren.job.b' },
            ];
      return new Response(JSON.stringify({ items, page_count: 2 }), { status: 200 });
    }) as unknown as typeof fetch;
    const api = new ManagementApi(managementEndpoint('amqp://127.0.0.1'), fetchImpl);
    expect(await api.queues('warren')).toEqual([
      {
        name: 'warren.job.a',
        messages: 5,
        ready: 3,
        unacknowledged: 2,
        consumers: 1,
        publishRate: 1.5,
        deliverRate: undefined,
        ackRate: undefined,
      },
      {
        name: 'warren.dead.a',
        messages: 1,
        ready: 1,
        unacknowledged: 0,
        consumers: 0,
        publishRate: undefined,
        deliverRate: undefined,
        ackRate: undefined,
      },
      {
        name: 'warren.job.b',
        messages: undefined,
        ready: undefined,
        unacknowledged: undefined,
        consumers: undefined,
        publishRate: undefined,
        deliverRate: undefined,
        ackRate: undefined,
      },
    ]);
    expect(asked).toHaveLength(2);
    expect(new URL(asked[0] ?? '').searchParams.get('name')).toBe('^warren\\.(job|dead|retry)\\.');
    const refusing = new ManagementApi(
      managementEndpoint('amqp://127.0.0.1'),
      async () => new Response('no', { status: 401, statusText: 'Unauthorized' }),
    );
    await expect(refusing.queues('warren')).rejects.toThrow(/answered HTTP 401 Unauthorized/);
  });
});
