/**
 * One scenario's world: its own PostgreSQL schema, Redis prefix and bucket (so counting objects
 * and rows counts only this scenario's), a Bot API double, the apps (API and workers as child
 * processes, or the API in-process where the API itself is not what is faulted), an event
 * tracker on the completion stream, and clients. Everything is torn down by `close()`.
 *
 * reliability/ is not a workspace package: it imports the workspace's sources by path, and
 * those resolve their own dependencies from their package folders.
 */
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildApp } from '../../apps/api/src/app.js';
import { apiConfigSchema } from '../../apps/api/src/config.js';
import { type ApiContext, createApiContext } from '../../apps/api/src/context.js';
import { RehostClient, type RehostClientOptions } from '../../packages/client/src/index.js';
import { parseEnv } from '../../packages/config/src/index.js';
import { createLogger } from '../../packages/logger/src/index.js';
import {
  type BotApiDouble,
  type BotApiDoubleOptions,
  createTestServices,
  startBotApiDouble,
  type TestServices,
} from '../../packages/testing/src/index.js';
import { type AppProcess, apiListening, freePort, startApp, workerStarted } from '../../test/src/processes.js';
import { EventTracker } from './events.js';

export interface RunOptions {
  smoke: boolean;
  /** Where app logs of this run go (kept for reading after a failure). */
  logDir: string;
  log: (msg: string) => void;
}

export interface ApiHandle {
  baseUrl: string;
  /** The child process, when the API runs as one. */
  proc?: AppProcess;
  stop(): Promise<void>;
}

export interface Stage {
  name: string;
  services: TestServices;
  bot: BotApiDouble;
  /** Environment for the apps; scenarios re-point parts of it at fault proxies. */
  env: Record<string, string>;
  token: string;
  tracker: EventTracker;
  /** Child processes started so far (workers and APIs). */
  procs: AppProcess[];
  /** The API started last and not stopped since (what the tally asks), if any. */
  apiBaseUrl: string | undefined;
  startApi(opts?: { child?: boolean; port?: number; env?: Record<string, string> }): Promise<ApiHandle>;
  startWorker(opts?: { env?: Record<string, string> }): Promise<AppProcess>;
  client(baseUrl: string, opts?: Partial<RehostClientOptions>): RehostClient;
  /** Child processes that died without being asked to (a crash is a finding). */
  crashed(): { name: string; pid: number | undefined; code: number | null; signal: NodeJS.Signals | null }[];
  close(): Promise<void>;
}

export async function openStage(
  name: string,
  run: RunOptions,
  extraEnv: Record<string, string> = {},
  botOptions: BotApiDoubleOptions = {},
): Promise<Stage> {
  const bot = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024, ...botOptions });
  const services = await createTestServices({
    LOG_LEVEL: 'info',
    TELEGRAM_BOT_TOKEN: bot.token,
    TELEGRAM_API_BASE_URL: bot.baseUrl,
    MAX_UPLOAD_BYTES: String(64 * 1024 * 1024),
    // A killed worker's jobs are retaken after about a lock duration.
    WORKER_LOCK_DURATION_MS: '3000',
    WORKER_STALLED_INTERVAL_MS: '1500',
    WORKER_METRICS_PORT: '0',
    WORKER_SHUTDOWN_GRACE_MS: '5000',
    ...extraEnv,
  });
  const env = { ...services.env };
  const token = env.API_TOKENS!.split(',')[0]!;
  const tracker = new EventTracker(services.redis.redis, services.redis.prefix);
  await tracker.ready;
  const dir = path.join(run.logDir, name);
  mkdirSync(dir, { recursive: true });
  const procs: AppProcess[] = [];
  /** Processes we stopped or killed on purpose. */
  const expectedExit = new Set<AppProcess>();
  const inProcess: { ctx: ApiContext; close: () => Promise<void> }[] = [];
  let counter = 0;

  const track = (p: AppProcess) => {
    procs.push(p);
    const kill = p.kill.bind(p);
    const stop = p.stop.bind(p);
    // Every exit we cause goes through these two.
    Object.assign(p, {
      kill: (signal: NodeJS.Signals) => {
        expectedExit.add(p);
        kill(signal);
      },
      stop: (graceMs?: number) => {
        expectedExit.add(p);
        return stop(graceMs);
      },
    });
    return p;
  };

  const stage: Stage = {
    name,
    services,
    bot,
    env,
    token,
    tracker,
    procs,
    apiBaseUrl: undefined,
    async startApi(opts = {}) {
      const apiEnv = { ...stage.env, ...opts.env };
      if (opts.child) {
        const port = opts.port ?? (await freePort());
        const proc = track(startApp('api', { ...apiEnv, API_PORT: String(port), API_HOST: '127.0.0.1' }));
        Object.defineProperty(proc, 'name', { value: `api-${++counter}` });
        await proc.waitForLine(apiListening, 30_000);
        const baseUrl = `http://127.0.0.1:${port}`;
        stage.apiBaseUrl = baseUrl;
        const forget = () => {
          if (stage.apiBaseUrl === baseUrl) stage.apiBaseUrl = undefined;
        };
        proc.exited.then(forget, forget);
        return { baseUrl, proc, stop: () => proc.stop(5_000) };
      }
      const log = createLogger({ name: 'api', level: 'warn', destination: createWriteStream(path.join(dir, `api-inprocess-${++counter}.log`)) });
      const ctx = await createApiContext(parseEnv(apiConfigSchema, { ...process.env, ...apiEnv }), log);
      const app = await buildApp(ctx);
      await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
      const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      stage.apiBaseUrl = baseUrl;
      const close = async () => {
        if (stage.apiBaseUrl === baseUrl) stage.apiBaseUrl = undefined;
        await app.close();
        await ctx.close();
      };
      inProcess.push({ ctx, close });
      return { baseUrl, stop: close };
    },
    async startWorker(opts = {}) {
      const proc = track(startApp('worker', { ...stage.env, ...opts.env }));
      Object.defineProperty(proc, 'name', { value: `worker-${++counter}` });
      await proc.waitForLine(workerStarted, 30_000);
      return proc;
    },
    client(baseUrl, opts = {}) {
      return new RehostClient({ baseUrl, token, retries: 12, retryBaseDelayMs: 200, retryMaxDelayMs: 2_000, requestTimeoutMs: 15_000, ...opts });
    },
    crashed() {
      return procs
        .filter((p) => !expectedExit.has(p) && (p.child.exitCode !== null || p.child.signalCode !== null))
        .map((p) => ({ name: p.name, pid: p.child.pid, code: p.child.exitCode, signal: p.child.signalCode }));
    },
    async close() {
      await Promise.allSettled(procs.map((p) => p.stop(5_000)));
      for (const p of procs) {
        const lines = [...p.lines.map((l) => JSON.stringify(l)), ...p.stderr.map((l) => `stderr: ${l}`)];
        writeFileSync(path.join(dir, `${p.name}-${p.child.pid}.log`), `${lines.join('\n')}\n`);
      }
      await Promise.allSettled(inProcess.map((a) => a.close()));
      await tracker.stop();
      await bot.close();
      await services.cleanup();
    },
  };
  return stage;
}
