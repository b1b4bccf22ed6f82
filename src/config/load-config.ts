import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { DEFAULT_CONFIG, LOG_LEVELS, QUEUE_LEADER_LOCATORS, QUEUE_TYPES, type WarrenConfig } from './config-options.js';
import { brokerUrlsProblem } from './broker-urls.js';
import { parseDuration } from './duration.js';
import { MAX_NAMESPACE_LENGTH, NAME_PATTERN } from './name-rules.js';

type Key = keyof WarrenConfig;

/**
 * What a setting accepts. A few checks written out rather than zod schemas: zod is there for the application's
 * payloads, and loading it here made every importer of the package entry pay for it (about 13 MB of RSS on Node 20).
 * Each check accepts exactly what the zod schema it replaced accepted.
 */
type Accepts = (value: unknown) => boolean;

interface Field {
  /** The environment variable that overrides it. */
  readonly env: string;
  /** What a valid value looks like, in the words of the error message. */
  readonly expected: string;
  /** The values it takes, checked after `fromText`. */
  readonly accepts: Accepts;
  /** Turns the text of an environment variable into the value to validate. */
  readonly fromText: (text: string) => unknown;
  /** Turns a config file's value into the value to validate (a list the file may give as an array). */
  readonly fromFile?: (value: unknown) => unknown;
  /** What is wrong with a value it does not accept, after `must be <expected>; ` (else `got <value>`). */
  readonly problem?: (value: unknown) => string | undefined;
}

const asText = (text: string): unknown => text;
const asInteger = (text: string): unknown => (/^\d+$/.test(text.trim()) ? Number(text) : text);
const asDuration = (text: string): unknown => parseDuration(text) ?? text;
/** `"1s,5s,30s"` (or an array of numbers and duration strings, from the file) → milliseconds. */
const asTiers = (value: unknown): unknown => {
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items)) return value;
  return items.map((item: unknown) => (typeof item === 'string' ? (parseDuration(item) ?? item) : item));
};

/** A safe integer from `min` to `max`, as `z.number().int()` took it: no NaN, no infinities, nothing past 2^53 - 1. */
const intRange =
  (min: number, max = Number.MAX_SAFE_INTEGER): Accepts =>
  (value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
const positive = intRange(1);
const port = intRange(0, 65_535);
/** A string matching `pattern`, at most `maxLength` code points long (zod counted code points, not UTF-16 units). */
const matches =
  (pattern: RegExp, maxLength = Infinity): Accepts =>
  (value) =>
    typeof value === 'string' && pattern.test(value) && (value.length <= maxLength || [...value].length <= maxLength);
const anyString: Accepts = (value) => typeof value === 'string';
const oneOf =
  (values: readonly string[]): Accepts =>
  (value) =>
    typeof value === 'string' && values.includes(value);
/** An array of `min` to `max` positive integers. Indexed rather than `every()`, which skips holes: zod failed them. */
const positiveList =
  (min: number, max: number): Accepts =>
  (value) => {
    if (!Array.isArray(value) || value.length < min || value.length > max) return false;
    for (let i = 0; i < value.length; i += 1) if (!positive(value[i])) return false;
    return true;
  };

const FIELDS: Readonly<Record<Key, Field>> = {
  amqpUrl: {
    env: 'WARREN_AMQP_URL',
    expected: "an amqp:// or amqps:// URL, or several separated by commas (a cluster's nodes)",
    accepts: (value) => brokerUrlsProblem(value) === undefined,
    fromText: asText,
    // The file may list a cluster's nodes as an array.
    fromFile: (value) =>
      Array.isArray(value) && value.every((url) => typeof url === 'string') ? value.join(',') : value,
    problem: brokerUrlsProblem,
  },
  namespace: {
    env: 'WARREN_NAMESPACE',
    expected: 'letters, digits, "-" and "_", in dot-separated words',
    accepts: matches(NAME_PATTERN, MAX_NAMESPACE_LENGTH),
    fromText: asText,
  },
  queueType: {
    env: 'WARREN_QUEUE_TYPE',
    expected: `one of ${QUEUE_TYPES.join(', ')}`,
    accepts: oneOf(QUEUE_TYPES),
    fromText: asText,
  },
  quorumInitialGroupSize: {
    env: 'WARREN_QUORUM_INITIAL_GROUP_SIZE',
    expected: 'a whole number of replicas 0-255 (0: RabbitMQ decides)',
    accepts: intRange(0, 255),
    fromText: asInteger,
  },
  queueLeaderLocator: {
    env: 'WARREN_QUEUE_LEADER_LOCATOR',
    expected: 'client-local, balanced, or empty (RabbitMQ decides)',
    accepts: oneOf(QUEUE_LEADER_LOCATORS),
    fromText: asText,
  },
  httpPort: { env: 'WARREN_HTTP_PORT', expected: 'a port number 0-65535', accepts: port, fromText: asInteger },
  logLevel: {
    env: 'WARREN_LOG_LEVEL',
    expected: `one of ${LOG_LEVELS.join(', ')}`,
    accepts: oneOf(LOG_LEVELS),
    fromText: asText,
  },
  shutdownGraceMs: {
    env: 'WARREN_SHUTDOWN_GRACE_MS',
    expected: 'a duration such as 30000, 30s or 2m',
    accepts: intRange(0),
    fromText: asDuration,
  },
  publishTimeoutMs: {
    env: 'WARREN_PUBLISH_TIMEOUT_MS',
    expected: 'a positive duration such as 10000 or 10s',
    accepts: positive,
    fromText: asDuration,
  },
  publishBufferSize: {
    env: 'WARREN_PUBLISH_BUFFER_SIZE',
    expected: 'a whole number of messages, 0 or more',
    accepts: intRange(0),
    fromText: asInteger,
  },
  maxPayloadBytes: {
    env: 'WARREN_MAX_PAYLOAD_BYTES',
    expected: 'a positive number of bytes',
    accepts: positive,
    fromText: asInteger,
  },
  jobTimeoutMs: {
    env: 'WARREN_JOB_TIMEOUT_MS',
    expected: 'a positive duration such as 300000 or 5m',
    accepts: positive,
    fromText: asDuration,
  },
  deliveryLimit: {
    env: 'WARREN_DELIVERY_LIMIT',
    expected: 'a positive whole number',
    accepts: positive,
    fromText: asInteger,
  },
  heartbeatSeconds: {
    env: 'WARREN_HEARTBEAT_SECONDS',
    expected: 'a positive whole number of seconds',
    accepts: positive,
    fromText: asInteger,
  },
  retryTiersMs: {
    env: 'WARREN_RETRY_TIERS',
    expected: 'a comma-separated list of 1 to 20 positive durations such as 1s,5s,30s',
    accepts: positiveList(1, 20),
    fromText: asTiers,
  },
  maxAttempts: {
    env: 'WARREN_MAX_ATTEMPTS',
    expected: 'a whole number of attempts, 1 or more',
    accepts: positive,
    fromText: asInteger,
  },
  redisUrl: {
    env: 'WARREN_REDIS_URL',
    expected: 'a redis:// or rediss:// URL, or none',
    accepts: matches(/^(none|rediss?:\/\/[^\s]+)$/),
    fromText: asText,
  },
  dedupTtlMs: {
    env: 'WARREN_DEDUP_TTL_MS',
    expected: 'a positive duration such as 7d or 86400000',
    accepts: positive,
    fromText: asDuration,
  },
  fireLockTtlMs: {
    env: 'WARREN_FIRE_LOCK_TTL_MS',
    expected: 'a duration of at least 1s, such as 60s',
    accepts: intRange(1_000),
    fromText: asDuration,
  },
  schedules: { env: 'WARREN_SCHEDULES', expected: 'a JSON file path', accepts: anyString, fromText: asText },
  handlers: { env: 'WARREN_HANDLERS', expected: 'a module path', accepts: anyString, fromText: asText },
};

/** Where {@link loadConfig} reads from. Every part is optional. */
export interface LoadConfigOptions {
  /** Environment to read `WARREN_*` variables from. @defaultValue `process.env` */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * JSON config file; `false` reads none. @defaultValue `$WARREN_CONFIG`, else `config/warren.json` under `cwd` when
   * it exists
   */
  readonly file?: string | false;
  /** @defaultValue `process.cwd()` */
  readonly cwd?: string;
  /**
   * Explicit values, highest of the layers. A key that is no setting is an error. A configuration `loadConfig`
   * returned may be passed again: its settings keep the sources they were read from (see {@link settingSource}).
   */
  readonly overrides?: Partial<WarrenConfig>;
}

/**
 * Where each setting of a configuration {@link loadConfig} built came from, in the words of a message. Kept beside
 * the configuration rather than in it, so `WarrenConfig` stays plain data; entries go with their configuration.
 */
const SOURCES = new WeakMap<object, Readonly<Record<Key, string>>>();

/** A setting given in code: an override of `loadConfig`, or a configuration built without it. */
const inCode = (key: Key): string => `the ${key} option passed in code`;

/**
 * Where a setting's value came from, for messages that tell the user what to fix: `the amqpUrl option passed in code`,
 * `WARREN_AMQP_URL`, `config/warren.json (amqpUrl)` or `the default amqpUrl (set WARREN_AMQP_URL)`. A configuration
 * that {@link loadConfig} did not return was built in code, and says so. Shows no value: the caller shows it (redacted).
 */
export function settingSource(config: Partial<WarrenConfig>, key: Key): string {
  return SOURCES.get(config)?.[key] ?? inCode(key);
}

/**
 * Builds the configuration from defaults ← config file ← environment ← overrides and validates it once.
 * @throws ConfigError naming the setting (its variable or file key), what was expected and what was given; or an
 *   override that is no setting, with the nearest known one.
 */
export function loadConfig(options: LoadConfigOptions = {}): WarrenConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const overrides = checkSettings(options.overrides ?? {}, 'passed in code');
  const inherited = SOURCES.get(overrides);
  const explicitFile = options.file === false ? undefined : (options.file ?? env['WARREN_CONFIG']);
  const file = resolve(cwd, explicitFile ?? 'config/warren.json');
  const fromFile =
    options.file !== false && (explicitFile !== undefined || existsSync(file)) ? readConfigFile(file) : {};
  const fileShown = shownPath(file, cwd);

  const result: Record<string, unknown> = {};
  const sources: Partial<Record<Key, string>> = {};
  for (const key of Object.keys(FIELDS) as Key[]) {
    const field = FIELDS[key];
    const envText = env[field.env];
    let source: string;
    let given: unknown;
    if (overrides[key] !== undefined) {
      [source, given] = [key, overrides[key]];
      sources[key] = inherited?.[key] ?? inCode(key);
    } else if (envText !== undefined && envText !== '') {
      [source, given] = [field.env, field.fromText(envText)];
      sources[key] = field.env;
    } else if (key in fromFile) {
      [source, given] = [`${file}: ${key}`, fromFile[key]];
      sources[key] = `${fileShown} (${key})`;
      if ((typeof given === 'string' && field.fromText !== asText) || field.fromText === asTiers)
        given = field.fromText(given as string);
      else if (field.fromFile) given = field.fromFile(given);
    } else {
      [source, given] = [key, DEFAULT_CONFIG[key]];
      sources[key] = `the default ${key} (set ${field.env})`;
    }
    if (!field.accepts(given)) {
      const shown = source.startsWith('WARREN_') ? JSON.stringify(envText) : JSON.stringify(given);
      throw new ConfigError(`${source} must be ${field.expected}; ${field.problem?.(given) ?? `got ${shown}`}`);
    }
    // A list is copied, as zod's parse did: the frozen config shares no array with the caller or the defaults.
    result[key] = Array.isArray(given) ? [...(given as unknown[])] : given;
  }
  const config = Object.freeze(result as unknown as WarrenConfig);
  SOURCES.set(config, Object.freeze(sources as Record<Key, string>));
  return config;
}

/**
 * Refuses a value that is not an object of settings, or that has a key which is no setting: a misspelt key would
 * otherwise be ignored without a word, and its setting silently left at its default. The config file and settings
 * passed in code both go through here.
 * @param where how the settings were given, after "unknown setting X": `passed in code`, `in config file /a/b.json`
 * @param ignored keys let through without being settings (the file's `$comment`)
 * @throws ConfigError naming the unknown keys, where they came from, the nearest known key of each, and every known one
 */
export function checkSettings(
  settings: unknown,
  where: string,
  ignored: (key: string) => boolean = () => false,
): Partial<Record<Key, unknown>> {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new ConfigError(`settings ${where} must be an object; got ${JSON.stringify(settings) ?? typeof settings}`);
  }
  const unknownKeys = Object.keys(settings).filter((key) => !Object.hasOwn(FIELDS, key) && !ignored(key));
  if (unknownKeys.length === 0) return settings;
  const named = unknownKeys.map((key) => {
    const near = nearestSetting(key);
    return { key: JSON.stringify(key), hint: near === undefined ? '' : ` (did you mean "${near}"?)` };
  });
  const known = `known: ${Object.keys(FIELDS).join(', ')}`;
  const [only] = named;
  throw new ConfigError(
    named.length === 1 && only
      ? `unknown setting ${only.key} ${where}${only.hint}; ${known}`
      : `unknown settings ${where}: ${named.map((n) => n.key + n.hint).join(', ')}; ${known}`,
  );
}

/** Letters and digits only, lower case: `amqp_url`, `AMQP-URL` and `amqpURL` all read `amqpurl`. */
const folded = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The setting a mistyped key most likely meant: the same letters in another case or spelling (`amqp_url`), the
 * setting's environment variable (`WARREN_AMQP_URL`), or the setting at the smallest edit distance when that is at
 * most a third of the key's length (`namspace`). `undefined` when nothing is that close.
 */
function nearestSetting(key: string): Key | undefined {
  const typed = folded(key);
  let best: { key: Key; distance: number } | undefined;
  for (const candidate of Object.keys(FIELDS) as Key[]) {
    if (typed === folded(FIELDS[candidate].env)) return candidate;
    const distance = editDistance(typed, folded(candidate));
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(1, Math.floor(typed.length / 3)) ? best.key : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** A file as a message names it: relative to the working directory when it is under it, else absolute. */
function shownPath(file: string, cwd: string): string {
  const path = relative(cwd, file);
  return path === '' || path === '..' || path.startsWith(`..${sep}`) || isAbsolute(path) ? file : path;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} must be JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`config file ${file} must hold a JSON object; got ${JSON.stringify(data)}`);
  }
  return checkSettings(data, `in config file ${file}`, (key) => key.startsWith('$'));
}

/** The environment variable of each setting, for documentation and `--help`. */
export function configVariables(): ReadonlyArray<{ key: Key; env: string; expected: string; defaultValue: unknown }> {
  return (Object.keys(FIELDS) as Key[]).map((key) => ({
    key,
    env: FIELDS[key].env,
    expected: FIELDS[key].expected,
    defaultValue: DEFAULT_CONFIG[key],
  }));
}
