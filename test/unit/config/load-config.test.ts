import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  Registry,
  WarrenClient,
  Worker,
  defineJob,
  loadConfig,
  settingSource,
} from 'warren';
import { pino } from 'pino';
import { formatDuration, parseDuration } from '../../../src/config/duration.js';

const empty = mkdtempSync(join(tmpdir(), 'warren-config-'));

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({ env: {}, cwd: empty });
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.amqpUrl).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(config.namespace).toBe('warren');
    expect(config.queueType).toBe('quorum');
    expect(config.httpPort).toBe(9464);
    expect(config.shutdownGraceMs).toBe(30_000);
  });

  it('layers defaults ← file ← environment ← overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
    writeFileSync(
      join(dir, 'warren.json'),
      JSON.stringify({ namespace: 'from-file', httpPort: 1234, shutdownGraceMs: '45s' }),
    );
    const config = loadConfig({
      env: { WARREN_CONFIG: join(dir, 'warren.json'), WARREN_HTTP_PORT: '4321', WARREN_QUEUE_TYPE: 'classic' },
      overrides: { queueType: 'quorum' },
    });
    expect(config.namespace).toBe('from-file');
    expect(config.httpPort).toBe(4321);
    expect(config.shutdownGraceMs).toBe(45_000);
    expect(config.queueType).toBe('quorum');
  });

  it.each([
    ['WARREN_QUEUE_TYPE', 'fast', 'WARREN_QUEUE_TYPE must be one of quorum, classic; got "fast"'],
    ['WARREN_HTTP_PORT', 'eighty', 'WARREN_HTTP_PORT must be a port number 0-65535; got "eighty"'],
    ['WARREN_HTTP_PORT', '70000', 'WARREN_HTTP_PORT must be a port number 0-65535; got "70000"'],
    ['WARREN_NAMESPACE', 'has space', 'WARREN_NAMESPACE must be letters, digits'],
    [
      'WARREN_AMQP_URL',
      'http://x',
      'WARREN_AMQP_URL must be an amqp:// or amqps:// URL, or several separated by commas (a cluster\'s nodes); got "http://x"',
    ],
    [
      'WARREN_SHUTDOWN_GRACE_MS',
      'soon',
      'WARREN_SHUTDOWN_GRACE_MS must be a duration such as 30000, 30s or 2m; got "soon"',
    ],
    [
      'WARREN_LOG_LEVEL',
      'loud',
      'WARREN_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "loud"',
    ],
  ])('%s=%s stops with one line naming the variable, the expectation and the value', (name, value, message) => {
    const load = (): unknown => loadConfig({ env: { [name]: value }, cwd: empty });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it('reads retry tiers as a comma-separated list of durations, in the environment or the file', () => {
    expect(
      loadConfig({ env: { WARREN_RETRY_TIERS: '1s, 5s,30s', WARREN_MAX_ATTEMPTS: '4' }, cwd: empty }),
    ).toMatchObject({
      retryTiersMs: [1_000, 5_000, 30_000],
      maxAttempts: 4,
    });
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
    writeFileSync(join(dir, 't.json'), JSON.stringify({ retryTiersMs: ['2s', 60_000] }));
    expect(loadConfig({ env: {}, file: join(dir, 't.json') }).retryTiersMs).toEqual([2_000, 60_000]);
    expect(() => loadConfig({ env: { WARREN_RETRY_TIERS: '1s,soon' }, cwd: empty })).toThrow(
      'WARREN_RETRY_TIERS must be a comma-separated list of 1 to 20 positive durations such as 1s,5s,30s; got "1s,soon"',
    );
    expect(() => loadConfig({ env: { WARREN_MAX_ATTEMPTS: '0' }, cwd: empty })).toThrow(
      /WARREN_MAX_ATTEMPTS must be a whole number of attempts/,
    );
  });

  it('names the file and key for a bad file value, and refuses unknown keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ queueType: 'stream' }));
    expect(() => loadConfig({ env: {}, file: join(dir, 'a.json') })).toThrow(
      /a\.json: queueType must be one of quorum, classic; got "stream"/,
    );
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ namspace: 'typo' }));
    expect(() => loadConfig({ env: {}, file: join(dir, 'b.json') })).toThrow(
      `unknown setting "namspace" in config file ${join(dir, 'b.json')} (did you mean "namespace"?); known: amqpUrl, namespace,`,
    );
    writeFileSync(join(dir, 'c.json'), '{ not json');
    expect(() => loadConfig({ env: {}, file: join(dir, 'c.json') })).toThrow(/must be JSON/);
  });
});

describe('unknown settings passed in code', () => {
  const known = `known: ${Object.keys(DEFAULT_CONFIG).join(', ')}`;
  const refused = (run: () => unknown): ConfigError => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('WARREN_ERR_CONFIG');
      return error as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };
  const overrides = (value: unknown): string =>
    refused(() => loadConfig({ env: {}, cwd: empty, overrides: value as Partial<typeof DEFAULT_CONFIG> })).message;

  it('loadConfig refuses an unknown override, naming it, where it came from, the nearest setting and the known ones', () => {
    expect(overrides({ amqpURL: 'amqp://x' })).toBe(
      `unknown setting "amqpURL" passed in code (did you mean "amqpUrl"?); ${known}`,
    );
    expect(overrides({ namspace: 'n' })).toContain('(did you mean "namespace"?)');
    expect(overrides({ WARREN_AMQP_URL: 'amqp://x' })).toContain('(did you mean "amqpUrl"?)');
    expect(overrides({ amqp_url: 'amqp://x' })).toContain('(did you mean "amqpUrl"?)');
    expect(overrides({ retryTiers: [1_000] })).toContain('(did you mean "retryTiersMs"?)');
    // Nothing close: no guess, only the list.
    expect(overrides({ colour: 'blue' })).toBe(`unknown setting "colour" passed in code; ${known}`);
    // An undefined value is still a key that means nothing.
    expect(overrides({ amqpURL: undefined })).toContain('"amqpURL"');
  });

  it('names every unknown override at once', () => {
    expect(overrides({ namespace: 'ok', amqpURL: 'amqp://x', colour: 'blue' })).toBe(
      `unknown settings passed in code: "amqpURL" (did you mean "amqpUrl"?), "colour"; ${known}`,
    );
  });

  it('refuses overrides that are not an object of settings', () => {
    expect(overrides('amqp://x')).toBe('settings passed in code must be an object; got "amqp://x"');
    expect(overrides([])).toBe('settings passed in code must be an object; got []');
  });

  it('WarrenClient refuses an unknown key of its config option, before any I/O', () => {
    const error = refused(() => new WarrenClient({ config: { amqpURL: 'amqp://x' } as never }));
    expect(error.message).toBe(`unknown setting "amqpURL" passed in code (did you mean "amqpUrl"?); ${known}`);
  });

  it('Worker refuses an unknown key of its config, before any I/O', () => {
    const registry = new Registry().add([defineJob('unit.job', () => {})]);
    const config = { ...loadConfig({ env: {}, cwd: empty }), shutdownGrace: 1_000 };
    const error = refused(() => new Worker({ config, registry, logger: pino({ level: 'silent' }) }));
    expect(error.message).toBe(
      `unknown setting "shutdownGrace" passed in code (did you mean "shutdownGraceMs"?); ${known}`,
    );
  });
});

describe('settingSource', () => {
  it('names where each setting came from: code, a variable, a file and its key, or the default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'warren.json'), JSON.stringify({ namespace: 'from-file' }));
    const config = loadConfig({
      env: { WARREN_AMQP_URL: 'amqp://u:p@rabbit:5672' },
      cwd: dir,
      overrides: { httpPort: 0 },
    });
    expect(settingSource(config, 'httpPort')).toBe('the httpPort option passed in code');
    expect(settingSource(config, 'amqpUrl')).toBe('WARREN_AMQP_URL');
    expect(settingSource(config, 'namespace')).toBe(join('config', 'warren.json') + ' (namespace)');
    expect(settingSource(config, 'redisUrl')).toBe('the default redisUrl (set WARREN_REDIS_URL)');
  });

  it('names a file outside the working directory by its absolute path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
    writeFileSync(join(dir, 'w.json'), JSON.stringify({ amqpUrl: 'amqp://u:p@rabbit:5672' }));
    const config = loadConfig({ env: { WARREN_CONFIG: join(dir, 'w.json') }, cwd: empty });
    expect(settingSource(config, 'amqpUrl')).toBe(`${join(dir, 'w.json')} (amqpUrl)`);
  });

  it('keeps the sources of a loaded configuration passed again as overrides (the CLI hands its own to the client)', () => {
    const loaded = loadConfig({ env: { WARREN_AMQP_URL: 'amqp://u:p@rabbit:5672' }, cwd: empty });
    const again = loadConfig({ env: {}, cwd: empty, overrides: loaded });
    expect(again).toEqual(loaded);
    expect(settingSource(again, 'amqpUrl')).toBe('WARREN_AMQP_URL');
    expect(settingSource(new WarrenClient({ config: loaded }).config, 'amqpUrl')).toBe('WARREN_AMQP_URL');
    // A copy is a configuration built in code: its origin is no longer known.
    expect(settingSource({ ...loaded }, 'amqpUrl')).toBe('the amqpUrl option passed in code');
  });

  it('does not change what a configuration holds', () => {
    const config = loadConfig({ env: {}, cwd: empty });
    expect(Object.keys(config)).toEqual(Object.keys(DEFAULT_CONFIG));
    expect(JSON.parse(JSON.stringify(config))).toEqual(JSON.parse(JSON.stringify(DEFAULT_CONFIG)));
  });
});

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
    expect(formatDuration(1_000)).toBe('1s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(250)).toBe('250ms');
  });
});
