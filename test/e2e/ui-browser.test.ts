import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { deadQueue, defineJob, type JobContext } from 'warren';
import { queueDepth, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { spawnWarren, type WarrenProcess } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/harness.js';

// `warren ui` as a process (the build in dist/), driven in Debian's Chromium: a failing job's dead letter appears on
// the overview, opens, is replayed from the page, is handled, and the overview's count drops without a reload. A
// hostile payload renders as text; --read-only has no actions; basic auth refuses.

const HANDLERS = 'test/fixtures/ui-handlers.ts';
const HOSTILE = '<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 2">';

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Starts `warren ui` on a free port; resolves with its address once it listens. */
async function startUi(namespace: string, args: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const ui: WarrenProcess = spawnWarren(['ui', '--port', '0', '--handlers', HANDLERS, ...args], {
    WARREN_NAMESPACE: namespace,
    WARREN_LOG_LEVEL: 'warn',
    ...env,
  });
  cleanups.push(async () => {
    ui.child.kill('SIGTERM');
    await ui.exited;
  });
  await ui.waitForOutput(/web UI on http:\/\/127\.0\.0\.1:\d+\//);
  return /web UI on (http:\/\/127\.0\.0\.1:\d+)\//.exec(ui.stderr())?.[1] ?? '';
}

/** A browser context whose console errors (a CSP violation among them) are collected. */
async function newPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<{ page: Page; errors: string[] }> {
  const context: BrowserContext = await browser.newContext(options);
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return { page, errors };
}

/** A worker on `namespace` whose job fails while `state.failing`, with what it ran. */
async function worker(
  namespace: string,
): Promise<{ harness: Harness; runs: JobContext[]; state: { failing: boolean } }> {
  const runs: JobContext[] = [];
  const state = { failing: true };
  const job = defineJob('ui.browser', (_payload: unknown, ctx) => {
    if (state.failing) throw new TypeError(`refused: ${HOSTILE}`);
    runs.push(ctx);
  });
  const harness = await startHarness([job], { config: { namespace, maxAttempts: 1, redisUrl: 'none' } });
  cleanups.push(() => harness.close());
  return { harness, runs, state };
}

describe('warren ui in Chromium', () => {
  it('a dead letter appears, opens, is replayed from the page and handled; the overview count drops by itself', async () => {
    const namespace = uniqueNamespace('e2e-ui');
    const { harness, runs, state } = await worker(namespace);
    await harness.client.publish('ui.browser', { note: HOSTILE }, { messageId: 'browser-1' });
    const dead = deadQueue(namespace, 'ui.browser');
    await waitFor('the dead letter', async () => (await queueDepth(dead)) === 1);
    const base = await startUi(namespace);

    const { page: overview, errors: overviewErrors } = await newPage();
    await overview.goto(`${base}/`);
    const deadLink = overview.locator('a[href="/jobs/ui.browser/dead-letters"]');
    await expect.poll(() => deadLink.textContent()).toBe('1');

    const { page, errors } = await newPage();
    await page.goto(`${base}/`);
    await page.click('a[href="/jobs/ui.browser/dead-letters"]');
    await page.waitForURL(/\/jobs\/ui\.browser\/dead-letters$/);
    // The hostile error message is text on the page, not markup.
    expect(await page.locator('td.error-text').first().textContent()).toBe(`TypeError: refused: ${HOSTILE}`);
    await page.click('text=browser-1');
    await page.waitForURL(/\/dead-letters\/browser-1%7C/);
    expect(await page.locator('pre').first().textContent()).toBe(JSON.stringify({ note: HOSTILE }, null, 2));
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('typeof window.pwned')).toBe('undefined');

    state.failing = false;
    await page.click('text=Replay this dead letter…');
    await page.waitForURL(/\/replay\?id=browser-1$/);
    expect(await page.locator('main').textContent()).toContain('Replay 1 dead letter of');
    await page.click('button:has-text("Replay 1 dead letter")');
    await page.locator('.notice.ok').waitFor();
    expect(await page.locator('.notice.ok').textContent()).toMatch(
      /^Replayed 1 dead letter of ui\.browser to .*; 0 left in /,
    );
    await waitFor('the replayed job to run', () => runs.length === 1);
    expect(runs[0]).toMatchObject({ jobId: 'browser-1', attempt: 1 });

    // The first tab was never reloaded: htmx refreshed its table (every 5 s).
    await expect.poll(() => deadLink.textContent(), { timeout: 15_000 }).toBe('0');
    expect([...errors, ...overviewErrors]).toEqual([]);
  });

  it('--read-only shows no action and refuses a POST', async () => {
    const namespace = uniqueNamespace('e2e-ui');
    const { harness } = await worker(namespace);
    await harness.client.publish('ui.browser', { n: 1 }, { messageId: 'ro-1' });
    await waitFor('the dead letter', async () => (await queueDepth(deadQueue(namespace, 'ui.browser'))) === 1);
    const base = await startUi(namespace, ['--read-only']);
    const { page, errors } = await newPage();
    await page.goto(`${base}/jobs/ui.browser/dead-letters`);
    expect(await page.locator('text=ro-1').count()).toBe(1);
    expect(
      await page
        .locator('form[method="post"], input[type="checkbox"], a.button, button:not([type="submit"].secondary)')
        .count(),
    ).toBe(0);
    await page.click('text=ro-1');
    expect(await page.locator('text=Replay this dead letter').count()).toBe(0);
    const refused = await page.request.post(`${base}/jobs/ui.browser/purge`, { form: { count: '1' } });
    expect(refused.status()).toBe(403);
    expect(await queueDepth(deadQueue(namespace, 'ui.browser'))).toBe(1);
    expect(errors).toEqual([]);
  });

  it('with WARREN_UI_USER and WARREN_UI_PASSWORD: refused without them, served with them', async () => {
    const namespace = uniqueNamespace('e2e-ui');
    const base = await startUi(namespace, [], { WARREN_UI_USER: 'ops', WARREN_UI_PASSWORD: 'correct horse' });
    const { page: anonymous } = await newPage();
    // The browser, asked for credentials it does not have, gives up on the page.
    await expect(anonymous.goto(`${base}/`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect((await anonymous.request.get(`${base}/`)).status()).toBe(401);
    const wrong = await anonymous.request.get(`${base}/`, {
      headers: { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` },
    });
    expect(wrong.status()).toBe(401);
    const { page, errors } = await newPage({ httpCredentials: { username: 'ops', password: 'correct horse' } });
    expect((await page.goto(`${base}/`))?.status()).toBe(200);
    expect(await page.locator('header .meta').textContent()).toContain('ops');
    expect(errors).toEqual([]);
  });
});
