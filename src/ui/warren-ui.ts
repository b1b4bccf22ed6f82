import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig } from '../config/load-config.js';
import { invalidJobType } from '../config/name-rules.js';
import { ConfigError } from '../errors/config-error.js';
import { hasCode } from '../errors/warren-error.js';
import { createLogger } from '../logging/logger.js';
import { validatePayload } from '../registry/validate-payload.js';
import { plannedJobs } from '../retry/retry-policy.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import { deadQueue, jobQueue } from '../topology/names.js';
import { legacyDeadLetterQueueWarning } from '../topology/topology-plan.js';
import { checkBasicAuth, type UiCredentials } from './basic-auth.js';
import { brokerSources } from './broker-sources.js';
import { CsrfTokens } from './csrf-tokens.js';
import { readDeadLetterDetail } from './dead-letter-detail.js';
import { parseDeadLetterQuery, readDeadLetterList } from './dead-letter-list.js';
import { html, type HtmlValue } from './html.js';
import { readForm, redirect, sendAsset, sendHtml, sendText, SECURITY_HEADERS } from './http-response.js';
import { loadOverview } from './overview-data.js';
import {
  confirmPurgePage,
  confirmReplayPage,
  CSRF_FIELD,
  purgedPage,
  replayFailed,
  replayFinished,
  replayProgressLine,
  replayStarted,
  type ReplayTarget,
} from './pages/actions-page.js';
import { deadLetterPage, deadLettersPage, editPage } from './pages/dead-letters-page.js';
import { errorPage, layoutParts } from './pages/layout.js';
import { overviewPage, overviewTable } from './pages/overview-page.js';
import { href, type PageContext } from './pages/page-context.js';
import { confirmTriggerPage, schedulesPage, triggeredPage } from './pages/schedules-page.js';
import { crossSiteProblem, hostProblem } from './request-checks.js';
import { loadStaticAssets, type StaticAssets } from './static-assets.js';
import type { ReplayRequest, UiJob, UiSources } from './ui-sources.js';
import { DEFAULT_UI_OPTIONS, type WarrenUiOptions } from './warren-ui-options.js';

/** A request handler for `node:http` (or any server passing its request and response), and how to stop it. */
export interface WarrenUiHandler {
  (request: IncomingMessage, response: ServerResponse): void;
  /** Stops the replays running (cleanly: those in flight are settled) and closes the UI's connections. Idempotent. */
  close(): Promise<void>;
}

/** Most message ids one replay from the UI takes: `DeadLetterReplay`'s `maxUnconfirmed` default. */
const MAX_SELECTION = 100;

/** The options, resolved. */
interface Settings {
  readonly config: WarrenConfig;
  readonly logger: Logger;
  readonly jobs: readonly UiJob[];
  readonly schedules: readonly ScheduleDefinition[];
  readonly basePath: string;
  readonly readOnly: boolean;
  readonly auth: UiCredentials | undefined;
  readonly allowedHosts: readonly string[] | undefined;
  readonly allowedOrigins: readonly string[];
  readonly scanLimit: number;
  readonly pageSize: number;
  readonly payloadPreviewChars: number;
  readonly refreshSeconds: number;
}

/** One request, once it passed the host and auth checks. */
interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly url: URL;
  readonly user: string | undefined;
  readonly page: PageContext;
}

/**
 * The web UI as a request handler: mount it in an application's own `node:http` server (under `basePath`), or let
 * `warren ui` serve it. Pages are rendered on the server; htmx refreshes the overview's table.
 *
 * What it guarantees: every state-changing request is a POST carrying a CSRF token (stateless: an HMAC of a
 * per-process secret, see {@link CsrfTokens}) from the UI's own origin (`Sec-Fetch-Site`, `Origin`); `readOnly`
 * removes every action and refuses every POST; with `auth`, every request needs the credentials; every response
 * carries a strict Content-Security-Policy; every text is escaped. Replays and purges are those of `warren dlq`
 * (`DeadLetterReplay`, `DeadLetterAdmin`), with their guarantees. No I/O until the first request.
 * @throws ConfigError when an option is not valid
 */
export function createWarrenUi(options: WarrenUiOptions = {}): WarrenUiHandler {
  const settings = resolveSettings(options);
  const sources =
    options.sources ??
    brokerSources({
      config: settings.config,
      logger: settings.logger,
      schedules: settings.schedules,
      managementUrl: options.managementUrl,
    });
  const csrf = new CsrfTokens(options.csrfSecret);
  let assets: StaticAssets | undefined;
  const ui = new WarrenUi(settings, sources, csrf, () => (assets ??= loadStaticAssets()));
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    ui.handle(request, response).catch((err: unknown) => {
      settings.logger.error({ err, component: 'ui', path: request.url }, 'web UI request failed');
      if (!response.headersSent) sendText(response, 500, 'internal error; see the log');
      else response.end();
    });
  };
  return Object.assign(handler, { close: () => sources.close() });
}

function resolveSettings(options: WarrenUiOptions): Settings {
  const config = loadConfig({ overrides: options.config ?? {} });
  const logger = options.logger ?? createLogger(config.logLevel);
  const basePath = options.basePath ?? DEFAULT_UI_OPTIONS.basePath;
  if (basePath !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(basePath)) {
    throw new ConfigError(
      `basePath must be "" or a path such as "/warren" (no trailing slash); got ${JSON.stringify(basePath)}`,
    );
  }
  const whole = (name: string, value: number, min: number, max: number): number => {
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}; got ${String(value)}`);
    return value;
  };
  const registry = options.registry?.list() ?? [];
  return {
    config,
    logger,
    jobs: plannedJobs(registry, config).map(({ jobType, tiersMs }) => ({
      jobType,
      tiersMs,
      schema: options.registry?.get(jobType)?.schema,
    })),
    schedules: options.schedules ?? [],
    basePath,
    readOnly: options.readOnly ?? DEFAULT_UI_OPTIONS.readOnly,
    auth: options.auth,
    allowedHosts: options.allowedHosts ?? (options.auth === undefined ? DEFAULT_UI_OPTIONS.loopbackHosts : undefined),
    allowedOrigins: options.allowedOrigins ?? [],
    scanLimit: whole('scanLimit', options.scanLimit ?? DEFAULT_UI_OPTIONS.scanLimit, 1, 65_535),
    pageSize: whole('pageSize', options.pageSize ?? DEFAULT_UI_OPTIONS.pageSize, 1, MAX_SELECTION),
    payloadPreviewChars: whole(
      'payloadPreviewChars',
      options.payloadPreviewChars ?? DEFAULT_UI_OPTIONS.payloadPreviewChars,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    refreshSeconds: whole('refreshSeconds', options.refreshSeconds ?? DEFAULT_UI_OPTIONS.refreshSeconds, 1, 3_600),
  };
}

/** Routes and answers requests; see {@link createWarrenUi}. */
class WarrenUi {
  readonly #settings: Settings;
  readonly #sources: UiSources;
  readonly #csrf: CsrfTokens;
  readonly #assets: () => StaticAssets;
  readonly #log: Logger;

  constructor(settings: Settings, sources: UiSources, csrf: CsrfTokens, assets: () => StaticAssets) {
    this.#settings = settings;
    this.#log = settings.logger.child({ component: 'ui' });
    this.#sources = sources;
    this.#csrf = csrf;
    this.#assets = assets;
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { basePath, allowedHosts, auth } = this.#settings;
    const url = new URL(request.url ?? '/', 'http://ui.invalid');
    if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      sendText(response, 404, 'not found');
      return;
    }
    const wrongHost = hostProblem(request.headers.host, allowedHosts);
    if (wrongHost !== undefined) {
      sendText(response, 421, wrongHost);
      return;
    }
    let user: string | undefined;
    if (auth !== undefined) {
      user = checkBasicAuth(request.headers.authorization, auth);
      if (user === undefined) {
        sendText(response, 401, 'the web UI needs a user name and password', {
          'www-authenticate': 'Basic realm="warren", charset="UTF-8"',
        });
        return;
      }
    }
    let segments: string[];
    try {
      segments = url.pathname
        .slice(basePath.length)
        .split('/')
        .filter((segment) => segment !== '')
        .map((segment) => decodeURIComponent(segment));
    } catch {
      sendText(response, 400, 'the path is not valid percent-encoding');
      return;
    }
    const assets = this.#assets();
    const page: PageContext = {
      basePath,
      assets: { htmx: assets.htmx.name, css: assets.css.name, icon: assets.icon.name },
      namespace: this.#settings.config.namespace,
      readOnly: this.#settings.readOnly,
      csrfToken: this.#csrf.issue(user ?? ''),
      user,
      refreshSeconds: this.#settings.refreshSeconds,
    };
    const exchange: Exchange = { request, response, url, user, page };
    const method = request.method ?? 'GET';
    if (method === 'POST') await this.#post(exchange, segments);
    else if (method === 'GET' || method === 'HEAD') await this.#get(exchange, segments, assets);
    else sendText(response, 405, 'method not allowed', { allow: 'GET, HEAD, POST' });
  }

  async #get(exchange: Exchange, segments: readonly string[], assets: StaticAssets): Promise<void> {
    const [first, second, third, fourth, ...rest] = segments;
    const { response } = exchange;
    if (first === undefined) return this.#overview(exchange, false);
    if (first === 'overview' && second === 'table' && third === undefined) return this.#overview(exchange, true);
    if (first === 'assets' && third === undefined) {
      const asset = [assets.htmx, assets.css, assets.icon].find((candidate) => candidate.name === second);
      if (asset) return sendAsset(response, asset.contentType, asset.body);
    }
    if (first === 'schedules' && second === undefined) return this.#schedules(exchange);
    if (first === 'schedules' && second !== undefined && third === 'trigger' && fourth === undefined) {
      if (this.#settings.readOnly) return this.#refuseReadOnly(exchange);
      return this.#confirmTrigger(exchange, second);
    }
    if (first === 'jobs' && second !== undefined && third === 'dead-letters' && fourth !== undefined) {
      if (rest.length === 1 && rest[0] === 'edit') {
        if (this.#settings.readOnly) return this.#refuseReadOnly(exchange);
        return this.#editForm(exchange, second, fourth);
      }
    }
    if (first === 'jobs' && second !== undefined && rest.length === 0) {
      if (invalidJobType(second) !== undefined) return this.#notFound(exchange, `no job type "${second}"`);
      if (third === undefined && fourth === undefined)
        return redirect(response, href(exchange.page, ['jobs', second, 'dead-letters']));
      if (third === 'dead-letters' && fourth === undefined) return this.#deadLetters(exchange, second);
      if (third === 'dead-letters' && fourth !== undefined) return this.#deadLetter(exchange, second, fourth);
      if ((third === 'replay' || third === 'purge') && fourth === undefined) {
        if (this.#settings.readOnly) return this.#refuseReadOnly(exchange);
        return third === 'replay' ? this.#confirmReplay(exchange, second) : this.#confirmPurge(exchange, second);
      }
    }
    return this.#notFound(exchange, 'there is no such page');
  }

  async #post(exchange: Exchange, segments: readonly string[]): Promise<void> {
    const { request, response, user } = exchange;
    if (this.#settings.readOnly) return this.#refuseReadOnly(exchange);
    const crossSite = crossSiteProblem(
      {
        host: request.headers.host,
        origin: request.headers.origin,
        secFetchSite: headerValue(request.headers['sec-fetch-site']),
      },
      this.#settings.allowedOrigins,
    );
    if (crossSite !== undefined) return this.#refuse(exchange, 403, 'Refused', crossSite);
    const body = await readForm(request);
    if (!body.ok) return this.#refuse(exchange, body.status, 'Refused', body.reason);
    const verdict = this.#csrf.verify(body.form.get(CSRF_FIELD) ?? undefined, user ?? '');
    if (verdict !== 'valid') {
      const why =
        verdict === 'expired'
          ? 'the form has expired: go back, reload the page and confirm again'
          : 'the form carries no valid token (a request from another page, or from before the UI restarted): go back, reload the page and confirm again';
      return this.#refuse(exchange, 403, 'Refused', `Nothing was done: ${why}.`);
    }
    const [first, second, third, fourth] = segments;
    if (first === 'jobs' && second !== undefined && fourth === undefined && invalidJobType(second) === undefined) {
      if (third === 'replay') return this.#replay(exchange, second, body.form);
      if (third === 'edit') return this.#editAndReplay(exchange, second, body.form);
      if (third === 'purge') return this.#purge(exchange, second, body.form);
    }
    if (first === 'schedules' && second !== undefined && third === 'trigger' && fourth === undefined)
      return this.#trigger(exchange, second);
    return sendText(response, 404, 'not found');
  }

  async #overview(exchange: Exchange, fragment: boolean): Promise<void> {
    const { config, jobs } = this.#settings;
    const overview = await loadOverview(config.namespace, jobs, this.#sources.queues, this.#sources.listing);
    const now = new Date();
    sendHtml(
      exchange.response,
      200,
      fragment ? overviewTable(exchange.page, overview, now) : overviewPage(exchange.page, overview, now),
    );
  }

  async #deadLetters(exchange: Exchange, jobType: string): Promise<void> {
    const { config, scanLimit, pageSize } = this.#settings;
    const readLegacy = exchange.url.searchParams.get('legacy') === '1';
    await this.#answer(exchange, async () => {
      const list = await readDeadLetterList(this.#sources.deadLetters, {
        namespace: config.namespace,
        jobType,
        query: parseDeadLetterQuery(exchange.url.searchParams),
        scanLimit,
        pageSize,
        readLegacy,
      });
      sendHtml(exchange.response, 200, deadLettersPage(exchange.page, list, this.#legacyWarning(jobType), readLegacy));
    });
  }

  async #deadLetter(exchange: Exchange, jobType: string, identity: string): Promise<void> {
    const { config, scanLimit, payloadPreviewChars } = this.#settings;
    const params = exchange.url.searchParams;
    const readLegacy = params.get('legacy') === '1';
    const legacy = readLegacy ? '1' : undefined;
    const listHref = href(exchange.page, ['jobs', jobType, 'dead-letters'], { legacy });
    await this.#answer(exchange, async () => {
      if (!readLegacy && (await this.#sources.deadLetters.lacksDeliveryLimit(jobType))) {
        return redirect(exchange.response, listHref);
      }
      const detail = await readDeadLetterDetail(this.#sources.deadLetters, {
        namespace: config.namespace,
        jobType,
        identity,
        scanLimit,
        previewChars: payloadPreviewChars,
        full: params.get('full') === '1',
      });
      if (detail === undefined) {
        return this.#notFound(
          exchange,
          `no dead letter ${identity} among the first ${scanLimit} of ${deadQueue(config.namespace, jobType)}: it was replayed or purged, or is further back in the queue`,
        );
      }
      const fullHref = href(exchange.page, ['jobs', jobType, 'dead-letters', identity], { full: '1', legacy });
      sendHtml(exchange.response, 200, deadLetterPage(exchange.page, detail, fullHref, listHref));
    });
  }

  async #confirmReplay(exchange: Exchange, jobType: string): Promise<void> {
    const { config, scanLimit } = this.#settings;
    const params = exchange.url.searchParams;
    const ids = [...new Set(params.getAll('id').filter((id) => id !== ''))];
    await this.#answer(exchange, async () => {
      if (ids.length === 0 && params.get('all') !== '1') {
        return this.#refuse(exchange, 400, 'Nothing selected', 'Select the dead letters to replay first.');
      }
      if (ids.length > MAX_SELECTION) {
        return this.#refuse(exchange, 400, 'Too many', `Select at most ${MAX_SELECTION} dead letters for one replay.`);
      }
      const inQueue = await this.#sources.deadLetters.count(jobType);
      if (ids.length === 0 && inQueue === 0) {
        return this.#refuse(exchange, 409, 'Nothing to replay', `${deadQueue(config.namespace, jobType)} is empty.`);
      }
      const target: ReplayTarget = ids.length > 0 ? { kind: 'ids', ids, inQueue } : { kind: 'all', inQueue };
      sendHtml(
        exchange.response,
        200,
        confirmReplayPage(exchange.page, {
          jobType,
          jobQueue: jobQueue(config.namespace, jobType),
          deadQueue: deadQueue(config.namespace, jobType),
          target,
          scanLimit,
        }),
      );
    });
  }

  async #confirmPurge(exchange: Exchange, jobType: string): Promise<void> {
    await this.#answer(exchange, async () => {
      const inQueue = await this.#sources.deadLetters.count(jobType);
      const dead = deadQueue(this.#settings.config.namespace, jobType);
      if (inQueue === 0) return this.#refuse(exchange, 409, 'Nothing to purge', `${dead} is empty.`);
      sendHtml(exchange.response, 200, confirmPurgePage(exchange.page, { jobType, deadQueue: dead, inQueue }));
    });
  }

  /**
   * Replays the selection, or all: "all" replays at most as many as the confirmation stated (`limit`), so dead
   * letters that arrived since wait for the next replay.
   */
  async #replay(exchange: Exchange, jobType: string, form: URLSearchParams): Promise<void> {
    const { scanLimit } = this.#settings;
    const ids = [...new Set(form.getAll('id').filter((id) => id !== ''))];
    const confirmed = Number(form.get('count') ?? '');
    if (ids.length > MAX_SELECTION) {
      return this.#refuse(exchange, 400, 'Too many', `Select at most ${MAX_SELECTION} dead letters for one replay.`);
    }
    if (ids.length === 0 && !(Number.isSafeInteger(confirmed) && confirmed > 0)) {
      return this.#refuse(exchange, 400, 'Nothing selected', 'The form names no dead letters to replay.');
    }
    const request = ids.length > 0 ? { jobType, messageIds: ids, scanLimit } : { jobType, limit: confirmed };
    await this.#runReplay(exchange, request, ids.length > 0 ? ids.length : confirmed);
  }

  /** The form that edits a dead letter's payload before replaying it; it states what the POST will do. */
  async #editForm(exchange: Exchange, jobType: string, identity: string): Promise<void> {
    const { config, scanLimit, payloadPreviewChars } = this.#settings;
    await this.#answer(exchange, async () => {
      const detail = await readDeadLetterDetail(this.#sources.deadLetters, {
        namespace: config.namespace,
        jobType,
        identity,
        scanLimit,
        previewChars: payloadPreviewChars,
        full: true,
      });
      if (detail === undefined || detail.context.messageId === undefined || detail.payload.format === 'base64') {
        return this.#notFound(
          exchange,
          detail === undefined
            ? `no dead letter ${identity} among the first ${scanLimit} of ${deadQueue(config.namespace, jobType)}`
            : 'only a dead letter with a message id and a text payload can be edited',
        );
      }
      const schema = this.#settings.jobs.find((job) => job.jobType === jobType)?.schema !== undefined;
      sendHtml(
        exchange.response,
        200,
        editPage(exchange.page, {
          jobType,
          messageId: detail.context.messageId,
          jobQueue: jobQueue(config.namespace, jobType),
          payload: detail.payload.text,
          schema,
        }),
      );
    });
  }

  /**
   * Replays one dead letter with the payload edited on the form: JSON, and valid against the job's schema when it
   * has one (else the form comes back with the reason, nothing done), then the same replay by message id.
   */
  async #editAndReplay(exchange: Exchange, jobType: string, form: URLSearchParams): Promise<void> {
    const { config, scanLimit } = this.#settings;
    const messageId = form.get('id') ?? '';
    const text = form.get('payload') ?? '';
    if (messageId === '') return this.#refuse(exchange, 400, 'Nothing selected', 'The form names no dead letter.');
    const schema = this.#settings.jobs.find((job) => job.jobType === jobType)?.schema;
    const again = (problem: string): void =>
      sendHtml(
        exchange.response,
        400,
        editPage(exchange.page, {
          jobType,
          messageId,
          jobQueue: jobQueue(config.namespace, jobType),
          payload: text,
          schema: schema !== undefined,
          problem,
        }),
      );
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (error) {
      return again(`the payload is not JSON: ${(error as Error).message}. Nothing was replayed.`);
    }
    if (schema !== undefined) {
      let checked: Awaited<ReturnType<typeof validatePayload>>;
      try {
        checked = await validatePayload(schema, payload, jobType);
      } catch (error) {
        return again(`the schema of "${jobType}" failed: ${(error as Error).message}. Nothing was replayed.`);
      }
      if (!checked.ok) return again(`${checked.message}. Nothing was replayed.`);
    }
    const bodies = new Map([[messageId, Buffer.from(JSON.stringify(payload), 'utf8')]]);
    await this.#runReplay(exchange, { jobType, messageIds: [messageId], bodies, scanLimit }, 1);
  }

  /** Runs a replay and streams its progress into the page as it goes; the summary ends it. */
  async #runReplay(exchange: Exchange, request: ReplayRequest, planned: number): Promise<void> {
    const logger = this.#log;
    const { jobType } = request;
    const { response, page, user } = exchange;
    const { head, tail } = layoutParts(page, `Replaying dead letters of ${jobType}`, 'overview');
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    response.write(`${head.toString()}${replayStarted(jobType, planned).toString()}`);
    let shown = 0;
    const onProgress = ({ replayed, total }: { replayed: number; total: number }): void => {
      // About twenty lines however many there are, and the last one.
      const step = Math.max(1, Math.ceil(total / 20));
      if (replayed !== total && replayed - shown < step) return;
      shown = replayed;
      response.write(replayProgressLine(replayed, total).toString());
    };
    const asked = { messageIds: request.messageIds, limit: request.limit, edited: request.bodies !== undefined };
    logger.info({ jobType, user, ...asked }, 'replay started');
    try {
      const summary = await this.#sources.actions.replay(request, onProgress);
      logger.info({ jobType, user, summary }, 'replay finished');
      response.end(`${replayFinished(page, summary).toString()}${tail.toString()}`);
    } catch (err) {
      logger.warn({ err, jobType, user }, 'replay failed');
      response.end(`${replayFailed(page, jobType, (err as Error).message).toString()}${tail.toString()}`);
    }
  }

  /** Purges, unless more dead letters are there than the confirmation stated (they are asked about again). */
  async #purge(exchange: Exchange, jobType: string, form: URLSearchParams): Promise<void> {
    const { config } = this.#settings;
    const logger = this.#log;
    const confirmed = Number(form.get('count') ?? '');
    if (!Number.isSafeInteger(confirmed) || confirmed < 0) {
      return this.#refuse(exchange, 400, 'Refused', 'The form does not say how many dead letters to delete.');
    }
    const dead = deadQueue(config.namespace, jobType);
    await this.#answer(exchange, async () => {
      const inQueue = await this.#sources.deadLetters.count(jobType);
      if (inQueue > confirmed) {
        return this.#refuse(
          exchange,
          409,
          'Not purged',
          html`${dead} now holds ${inQueue} dead letters, more than the ${confirmed} you confirmed: nothing was deleted. <a href="${href(exchange.page, ['jobs', jobType, 'purge'])}">Confirm again</a>`,
        );
      }
      const purged = await this.#sources.actions.purge(jobType);
      logger.info({ jobType, user: exchange.user, purged }, 'dead letters purged');
      sendHtml(exchange.response, 200, purgedPage(exchange.page, { jobType, deadQueue: dead, purged }));
    });
  }

  async #schedules(exchange: Exchange): Promise<void> {
    await this.#answer(exchange, async () => {
      const list = await this.#sources.schedules.describe();
      sendHtml(exchange.response, 200, schedulesPage(exchange.page, list, this.#settings.config.redisUrl !== 'none'));
    });
  }

  async #confirmTrigger(exchange: Exchange, name: string): Promise<void> {
    const definition = this.#settings.schedules.find((schedule) => schedule.name === name);
    if (definition === undefined) return this.#notFound(exchange, `no schedule named "${name}"`);
    await this.#answer(exchange, async () => {
      const status = (await this.#sources.schedules.describe()).find((schedule) => schedule.name === name);
      if (status === undefined) return this.#notFound(exchange, `no schedule named "${name}"`);
      const payload = JSON.stringify(definition.payload, null, 2) ?? 'undefined';
      sendHtml(exchange.response, 200, confirmTriggerPage(exchange.page, status, payload));
    });
  }

  async #trigger(exchange: Exchange, name: string): Promise<void> {
    const definition = this.#settings.schedules.find((schedule) => schedule.name === name);
    if (definition === undefined) return this.#notFound(exchange, `no schedule named "${name}"`);
    await this.#answer(exchange, async () => {
      const messageId = await this.#sources.schedules.trigger(name);
      this.#log.info({ schedule: name, messageId, user: exchange.user }, 'schedule triggered');
      sendHtml(exchange.response, 200, triggeredPage(exchange.page, name, definition.jobType, messageId));
    });
  }

  #legacyWarning(jobType: string): string {
    const { namespace } = this.#settings.config;
    return legacyDeadLetterQueueWarning(deadQueue(namespace, jobType), namespace);
  }

  /** Runs a page's work; warren's errors become pages saying what went wrong (a broker down, a missing queue). */
  async #answer(exchange: Exchange, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      const answer = exchange.response.headersSent ? undefined : errorAnswer(error);
      if (answer === undefined) throw error;
      this.#refuse(exchange, answer.status, answer.title, (error as Error).message);
    }
  }

  #refuse(exchange: Exchange, status: number, title: string, message: HtmlValue): void {
    sendHtml(exchange.response, status, errorPage(exchange.page, title, message));
  }

  #notFound(exchange: Exchange, message: string): void {
    this.#refuse(exchange, 404, 'Not found', message);
  }

  #refuseReadOnly(exchange: Exchange): void {
    this.#refuse(exchange, 403, 'Read-only', 'This web UI is read-only: it changes nothing.');
  }
}

/** The page a warren error becomes, by its code; `undefined` for anything else (a bug: logged, answered 500). */
function errorAnswer(error: unknown): { status: number; title: string } | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('WARREN_ERR_')) return undefined;
  if (hasCode(error, 'WARREN_ERR_CONFIG')) return { status: 404, title: 'Not found' };
  if (hasCode(error, 'WARREN_ERR_ILLEGAL_STATE')) return { status: 409, title: 'Not now' };
  if (hasCode(error, 'WARREN_ERR_CONNECTION')) return { status: 503, title: 'RabbitMQ unreachable' };
  return { status: 502, title: 'Failed' };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
