import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors/config-error.js';
import { DEFAULT_CONFIG, LOG_LEVELS, QUEUE_TYPES, type WarrenConfig } from './config-options.js';
import { parseDuration } from './duration.js';
import { NAME_PATTERN } from '../topology/names.js';


type Key = keyof WarrenConfig;

interface Field {
  /** The environment variable that overrides it. */
  readonly env: string;
  /** What a valid value looks like, in the words of the error message. */
  readonly expected: string;
  readonly schema: z.ZodType;
  /** Turns the text of an environment variable into the value to validate. */
  readonly fromText: (text: string) => unknown;
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
const port = z.number().int().min(0).max(65_535);
const positive = z.number().int().positive();

const FIELDS: Readonly<Record<Key, Field>> = {
  amqpUrl: {
    env: 'WARREN_AMQP_URL',
    expected: 'an amqp:// or amqps:// URL',
    schema: z.string().regex(/^amqps?:\/\/[^\s]+$/),
    fromText: asText,
  },
  namespace: {
    env: 'WARREN_NAMESPACE',
    expected: 'letters, digits, "-" and "_", in dot-separated words',
    schema: z.string().max(100).regex(NAME_PATTERN),
    fromText: asText,
  },
  queueType: {
    env: 'WARREN_QUEUE_TYPE',
    expected: `one of ${QUEUE_TYPES.join(', ')}`,
    schema: z.enum(QUEUE_TYPES),
    fromText: asText,
  },
  httpPort: { env: 'WARREN_HTTP_PORT', expected: 'a port number 0-65535', schema: port, fromText: asInteger },
  logLevel: {
    env: 'WARREN_LOG_LEVEL',
    expected: `one of ${LOG_LEVELS.join(', ')}`,
    schema: z.enum(LOG_LEVELS),
    fromText: asText,
  },
  shutdownGraceMs: {
    env: 'WARREN_SHUTDOWN_GRACE_MS',
    expected: 'a duration such as 30000, 30s or 2m',
    schema: z.number().int().min(0),
    fromText: asDuration,
  },
  publishTimeoutMs: {
    env: 'WARREN_PUBLISH_TIMEOUT_MS',
    expected: 'a positive duration such as 10000 or 10s',
    schema: positive,
    fromText: asDuration,
  },
  publishBufferSize: {
    env: 'WARREN_PUBLISH_BUFFER_SIZE',
    expected: 'a whole number of messages, 0 or more',
    schema: z.number().int().min(0),
    fromText: asInteger,
  },
  maxPayloadBytes: {
    env: 'WARREN_MAX_PAYLOAD_BYTES',
    expected: 'a positive number of bytes',
    schema: positive,
    fromText: asInteger,
  },
  jobTimeoutMs: {
    env: 'WARREN_JOB_TIMEOUT_MS',
    expected: 'a positive duration such as 300000 or 5m',
    schema: positive,
    fromText: asDuration,
  },
  deliveryLimit: {
    env: 'WARREN_DELIVERY_LIMIT',
    expected: 'a positive whole number',
    schema: positive,
    fromText: asInteger,
  },
  heartbeatSeconds: {
    env: 'WARREN_HEARTBEAT_SECONDS',
    expected: 'a positive whole number of seconds',
    schema: positive,
    fromText: asInteger,
  },
  retryTiersMs: {
    env: 'WARREN_RETRY_TIERS',
    expected: 'a comma-separated list of 1 to 20 positive durations such as 1s,5s,30s',
    schema: z.array(z.number().int().positive()).min(1).max(20),
    fromText: asTiers,
  },
  maxAttempts: {
    env: 'WARREN_MAX_ATTEMPTS',
    expected: 'a whole number of attempts, 1 or more',
    schema: positive,
    fromText: asInteger,
  },
  redisUrl: {
    env: 'WARREN_REDIS_URL',
    expected: 'a redis:// or rediss:// URL, or none',
    schema: z.string().regex(/^(none|rediss?:\/\/[^\s]+)$/),
    fromText: asText,
  },
  dedupTtlMs: {
    env: 'WARREN_DEDUP_TTL_MS',
    expected: 'a positive duration such as 7d or 86400000',
    schema: positive,
    fromText: asDuration,
  },
  fireLockTtlMs: {
    env: 'WARREN_FIRE_LOCK_TTL_MS',
    expected: 'a duration of at least 1s, such as 60s',
    schema: z.number().int().min(1_000),
    fromText: asDuration,
  },
  schedules: { env: 'WARREN_SCHEDULES', expected: 'a JSON file path', schema: z.string(), fromText: asText },
  handlers: { env: 'WARREN_HANDLERS', expected: 'a module path', schema: z.string(), fromText: asText },
};

/** Where {@link loadConfig} reads from. Every part is optional. */
export interface LoadConfigOptions {
  /** Environment to read `WARREN_*` variables from. @defaultValue `process.env` */
  readonly env?: NodeJS.ProcessEnv;
  /** JSON config file. @defaultValue `$WARREN_CONFIG`, else `config/warren.json` under `cwd` when it exists */
  readonly file?: string;
  /** @defaultValue `process.cwd()` */
  readonly cwd?: string;
  /** Explicit values, highest of the layers. */
  readonly overrides?: Partial<WarrenConfig>;
}

/**
 * Builds the configuration from defaults ← config file ← environment ← overrides and validates it once.
 * @throws ConfigError naming the setting (its variable or file key), what was expected and what was given.
 */
export function loadConfig(options: LoadConfigOptions = {}): WarrenConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicitFile = options.file ?? env['WARREN_CONFIG'];
  const file = resolve(cwd, explicitFile ?? 'config/warren.json');
  const fromFile = explicitFile !== undefined || existsSync(file) ? readConfigFile(file) : {};

  const result: Record<string, unknown> = {};
  for (const key of Object.keys(FIELDS) as Key[]) {
    const field = FIELDS[key];
    const envText = env[field.env];
    let source: string;
    let given: unknown;
    if (options.overrides?.[key] !== undefined) {
      [source, given] = [key, options.overrides[key]];
    } else if (envText !== undefined && envText !== '') {
      [source, given] = [field.env, field.fromText(envText)];
    } else if (key in fromFile) {
      [source, given] = [`${file}: ${key}`, fromFile[key]];
      if ((typeof given === 'string' && field.fromText !== asText) || field.fromText === asTiers) given = field.fromText(given as string);
    } else {
      [source, given] = [key, DEFAULT_CONFIG[key]];
    }
    const parsed = field.schema.safeParse(given);
    if (!parsed.success) {
      const shown = source.startsWith('WARREN_') ? JSON.stringify(envText) : JSON.stringify(given);
      throw new ConfigError(`${source} must be ${field.expected}; got ${shown}`);
    }
    result[key] = parsed.data;
  }
  return Object.freeze(result as unknown as WarrenConfig);
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
  const unknownKeys = Object.keys(data).filter((key) => !(key in FIELDS) && !key.startsWith('$'));
  if (unknownKeys.length > 0) {
    throw new ConfigError(
      `config file ${file} has unknown setting ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}; known: ${Object.keys(FIELDS).join(', ')}`,
    );
  }
  return data as Record<string, unknown>;
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
