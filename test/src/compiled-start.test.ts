/**
 * The compiled runtime, as the Docker images and `pnpm start` run it: the API and the worker
 * started from their dist/ (`node --conditions=compiled apps/<app>/dist/main.js`, built by
 * `turbo run build`, which ./test.sh runs first) answer /healthz, rehost a Telegram file end to
 * end, load no TypeScript source at all, and exit 0 on SIGTERM. The other process tests run the
 * sources through tsx; this one guards the build and the packages' `compiled` exports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, createTestServices, makePng, startBotApiDouble, type TestServices } from '@rehost/testing';
import { freePort } from './processes.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Compiled {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitFor: (text: string, timeoutMs?: number) => Promise<void>;
}

const started: Compiled[] = [];

function startCompiled(app: 'api' | 'worker', env: Record<string, string>): Compiled {
  const main = path.join(REPO_ROOT, `apps/${app}/dist/main.js`);
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`pnpm build\` first (./test.sh does)`);
  const { NODE_OPTIONS: _jestVm, ...inherited } = process.env;
  // --trace-... would be noisy; instead every module URL the process loads is checked below.
  const child = spawn(process.execPath, ['--conditions=compiled', '--import', 'data:text/javascript,' + encodeURIComponent(LOAD_WATCH), main], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      for (const f of listeners) f();
    });
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const proc: Compiled = {
    child,
    lines,
    exited,
    waitFor: (text, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!lines.some((l) => l.includes(text))) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${app}: no line with ${JSON.stringify(text)} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`${app} exited (${code}):\n${lines.slice(-20).join('\n')}`));
        });
        check();
      }),
  };
  started.push(proc);
  return proc;
}

/** Preloaded into each child: prints one line per loaded .ts module (there must be none). */
const LOAD_WATCH = `
import { registerHooks } from 'node:module';
registerHooks({
  load(url, context, next) {
    if (/\\.[cm]?ts$/.test(url)) process.stderr.write('LOADED-TS ' + url + '\\n');
    return next(url, context);
  },
});
`;

async function stop(p: Compiled): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

let services: TestServices;
let bot: BotApiDouble;
let env: Record<string, string>;

beforeAll(async () => {
  bot = await startBotApiDouble();
  services = await createTestServices();
  env = {
    ...services.env,
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    WORKER_METRICS_PORT: '0',
    MAINTENANCE_INTERVAL_MS: '0',
    TELEGRAM_BOT_TOKEN: bot.token,
    TELEGRAM_API_BASE_URL: bot.baseUrl,
    API_HOST: '127.0.0.1',
  };
});
afterAll(async () => {
  await Promise.all(started.map(stop));
  await services?.cleanup();
  await bot?.close();
});

describe('compiled runtime (dist/, --conditions=compiled)', () => {
  it('serves /healthz, rehosts a Telegram file end to end, loads no .ts file, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const api = startCompiled('api', { ...env, API_PORT: String(port) });
    const worker = startCompiled('worker', env);
    await Promise.all([api.waitFor('Server listening at'), worker.waitFor('"msg":"worker started"')]);

    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);

    const png = makePng(32, 24);
    bot.addFile({ fileId: 'compiled-1', fileUniqueId: 'compiled-u1', bytes: png });
    const auth = { authorization: `Bearer ${env.API_TOKENS!.split(',')[0]}` };
    const posted = await fetch(`${base}/v1/rehost`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ source: { type: 'telegram', fileId: 'compiled-1', fileUniqueId: 'compiled-u1' } }),
    });
    expect(posted.status).toBe(202);
    const { assetId } = (await posted.json()) as { assetId: string };
    const waited = await fetch(`${base}/v1/assets/${assetId}/wait?timeoutMs=20000`, { headers: auth });
    const asset = (await waited.json()) as { status: string; width: number; height: number };
    expect(asset).toMatchObject({ status: 'ready', width: 32, height: 24 });

    expect([...api.lines, ...worker.lines].filter((l) => l.startsWith('LOADED-TS'))).toEqual([]);
    expect(await stop(api)).toBe(0);
    expect(await stop(worker)).toBe(0);
  });
});
