import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from 'warren';
import { loadSchedules } from '../../../src/cli/cli-context.js';
import { DEFAULT_HANDLER_MODULES } from '../../../src/cli/load-handlers.js';

describe('loadSchedules: where it looked, when there are none', () => {
  it('names the default schedules file that does not exist and the handlers modules it looked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-schedules-'));
    const { schedules, whyNone } = await loadSchedules(undefined, DEFAULT_CONFIG, dir);
    expect(schedules).toEqual([]);
    expect(whyNone).toBe(
      `there is no schedules file ${join(dir, 'config/schedules.json')}, and no handlers module was found ` +
        `(looked for ${DEFAULT_HANDLER_MODULES.join(', ')} under ${dir})`,
    );
  });

  it('names the default schedules file that holds none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-schedules-'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config/schedules.json'), '[]');
    const { whyNone } = await loadSchedules(undefined, DEFAULT_CONFIG, dir);
    expect(whyNone).toMatch(new RegExp(`^the schedules file ${join(dir, 'config/schedules.json')} holds none, and `));
  });
});
