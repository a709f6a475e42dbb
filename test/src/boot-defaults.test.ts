/**
 * What the API serves when started as `pnpm start` starts it (a real process, the environment as
 * given): auth and the demo page fail closed. The refusals to start live in config-boot.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestServices, type TestServices } from '@rehost/testing';
import { type AppProcess, apiListening, freePort, startApp, stopAllApps } from './processes.js';

let services: TestServices;

beforeAll(async () => {
  services = await createTestServices();
});
afterAll(async () => {
  await stopAllApps();
  await services?.cleanup();
});

/** The suite's services, minus the test-only NODE_ENV and the tokens; plus `env`. */
async function startApi(env: Record<string, string>): Promise<{ api: AppProcess; base: string }> {
  const { NODE_ENV: _test, API_TOKENS: _tokens, ...rest } = services.env;
  const port = await freePort();
  const api = startApp('api', { ...rest, LOG_LEVEL: 'info', API_PORT: String(port), API_HOST: '127.0.0.1', ...env });
  await api.waitForLine(apiListening);
  return { api, base: `http://127.0.0.1:${port}` };
}

describe('auth and the demo page fail closed', () => {
  it('with API_ALLOW_ANONYMOUS=true and no tokens, /v1 is open, and it says so in its log', async () => {
    const { api, base } = await startApi({ API_ALLOW_ANONYMOUS: 'true' });
    const res = await fetch(`${base}/v1/assets/00000000-0000-4000-8000-000000000000`);
    expect(res.status).toBe(404);
    expect((await res.json()) as unknown).toEqual({ error: { code: 'not_found', message: 'asset not found' } });
    expect(api.lines.some((l) => l.level === 40 && /API_ALLOW_ANONYMOUS/.test(l.msg))).toBe(true);
    await api.stop();
  });

  it('the demo page is off unless DEMO_PAGE=true', async () => {
    const off = await startApi({ API_TOKENS: 'boot-token' });
    for (const path of ['/demo', '/demo/assets/00000000-0000-4000-8000-000000000000/wait']) {
      const res = await fetch(`${off.base}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    const demoUpload = await fetch(`${off.base}/demo/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contentType: 'image/png', size: 10 }),
    });
    expect(demoUpload.status).toBe(404);
    // /v1 keeps asking for the token.
    expect((await fetch(`${off.base}/v1/assets/00000000-0000-4000-8000-000000000000`)).status).toBe(401);
    await off.api.stop();

    const on = await startApi({ API_TOKENS: 'boot-token', DEMO_PAGE: 'true' });
    expect((await fetch(`${on.base}/demo`)).status).toBe(200);
    await on.api.stop();
  });
});
