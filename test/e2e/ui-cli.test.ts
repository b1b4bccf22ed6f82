import { describe, expect, it } from 'vitest';
import { uniqueNamespace } from '../helpers/broker.js';
import { runWarren, spawnWarren } from '../helpers/cli.js';

describe('warren ui', () => {
  it('--help', async () => {
    const result = await runWarren(['ui', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: warren ui \[options\]/);
    expect(result.stdout).toContain('--read-only');
  });

  it('refuses to listen beyond loopback without credentials, and half of them anywhere, before connecting', async () => {
    const exposed = await runWarren(['ui', '--host', '0.0.0.0', '--port', '0']);
    expect(exposed.code).toBe(1);
    expect(exposed.stderr).toBe(
      'warren: the web UI would listen on 0.0.0.0, which other machines can reach, without a password: set ' +
        'WARREN_UI_USER and WARREN_UI_PASSWORD (basic auth), or leave --host at 127.0.0.1\n',
    );
    const half = await runWarren(['ui', '--port', '0'], { WARREN_UI_USER: 'ops' });
    expect(half.code).toBe(1);
    expect(half.stderr).toMatch(/^warren: WARREN_UI_PASSWORD must be set too/);
    const port = await runWarren(['ui', '--port', '70000']);
    expect(port.code).toBe(1);
    expect(port.stderr).toMatch(/--port <port>' argument '70000' is invalid\. must be a port number/);
  });

  it('serves on 127.0.0.1 and exits 0 on SIGTERM', async () => {
    const ui = spawnWarren(['ui', '--port', '0', '--handlers', 'test/fixtures/ui-handlers.ts'], {
      WARREN_NAMESPACE: uniqueNamespace('e2e-ui'),
      WARREN_REDIS_URL: 'none',
    });
    await ui.waitForOutput(/web UI on http:\/\/127\.0\.0\.1:\d+\//);
    const base = /web UI on (http:\/\/127\.0\.0\.1:\d+)\//.exec(ui.stderr())?.[1];
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<strong>ui.browser</strong>');
    ui.child.kill('SIGTERM');
    expect(await ui.exited).toBe(0);
  });
});
