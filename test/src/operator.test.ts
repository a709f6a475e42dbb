/**
 * The operator surface: health and readiness (with Redis or the bucket unreachable),
 * Prometheus metrics of the API and of a real worker process, the OpenAPI document and
 * UI, and what the dashboard shows of a rehost job.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildApp } from '@rehost/api/app';
import { apiConfigSchema } from '@rehost/api/config';
import { createApiContext } from '@rehost/api/context';
import { parseEnv } from '@rehost/config';
import { buildDashboard } from '@rehost/dashboard/app';
import { dashboardConfigSchema } from '@rehost/dashboard/config';
import { createRedis, jobIdFor } from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import type { FastifyInstance } from 'fastify';
import { finishedJob, putUpload, waitTerminal } from './helpers.js';
import { ResponseValidator } from './openapi-check.js';
import { type AppProcess, freePort, startApp, stopAllApps, workerStarted } from './processes.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
const silent = createLogger({ name: 'operator-test', level: 'silent' });

beforeAll(async () => {
  bot = await startBotApiDouble();
  // No in-process worker: the worker metrics below come from a real worker process.
  stack = await startStack({ worker: false, env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl } });
});
afterAll(async () => {
  await stopAllApps();
  await stack?.close();
  await bot?.close();
});

/** Metric names a Prometheus text exposition declares (`# TYPE <name> <type>`). */
const declared = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
/** The value of one sample line, e.g. `rehost_jobs_total{queue="rehost",outcome="ready"}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const m of text.matchAll(/^(\w+)(?:\{([^}]*)\})? (\S+)$/gm)) {
    if (m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('health and readiness', () => {
  it('/healthz answers 200 without a token', async () => {
    const res = await fetch(`${stack.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when Redis, PostgreSQL and the bucket answer', async () => {
    const res = await fetch(`${stack.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { redis: 'ok', postgres: 'ok', bucket: 'ok' } });
  });

  it('/readyz answers 503 naming redis when Redis is unreachable', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    // createApiContext itself cannot finish without Redis (its event subscriber waits for it),
    // so this context is the suite's own with only the Redis connection pointed elsewhere.
    const redis = createRedis(closed);
    redis.on('error', () => {}); // reconnect attempts; expected here
    const app = await buildApp({ ...stack.apiCtx, config: { ...stack.apiCtx.config, REDIS_URL: closed }, redis, log: silent });
    const responses = new ResponseValidator(app).attach();
    try {
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'unavailable', checks: { redis: 'unavailable', postgres: 'ok', bucket: 'ok' } });
      responses.assertClean();
    } finally {
      await app.close();
      redis.disconnect();
    }
  });

  it('/readyz answers 503 naming bucket when the store is unreachable', async () => {
    const env = { ...process.env, ...stack.services.env, S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` };
    const ctx = await createApiContext(parseEnv(apiConfigSchema, env), silent);
    const app = await buildApp(ctx);
    const responses = new ResponseValidator(app).attach();
    try {
      const res = await app.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'unavailable', checks: { redis: 'ok', postgres: 'ok', bucket: 'unavailable' } });
      responses.assertClean();
    } finally {
      await app.close();
      await ctx.close();
    }
  });
});

describe('metrics', () => {
  it('the API exposes request, upload and queue metrics and process defaults', async () => {
    await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 1234 } });
    const res = await fetch(`${stack.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const names = declared(text);
    for (const name of [
      'rehost_http_requests_total',
      'rehost_http_request_duration_seconds',
      'rehost_upload_declared_bytes',
      'rehost_queue_depth',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names).toContain(name);
    }
    expect(sample(text, 'rehost_http_requests_total', { method: 'POST', route: '/v1/uploads', status: '201' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'rehost_queue_depth', { queue: 'rehost', state: 'waiting' })).toBeDefined();
  });

  describe('a worker process', () => {
    let worker: AppProcess;
    let metricsUrl: string;

    beforeAll(async () => {
      const port = await freePort();
      worker = startApp('worker', {
        ...stack.services.env,
        LOG_LEVEL: 'info',
        WORKER_METRICS_PORT: String(port),
        TELEGRAM_BOT_TOKEN: bot.token,
        TELEGRAM_API_BASE_URL: bot.baseUrl,
      });
      const started = await worker.waitForLine(workerStarted);
      expect(started.metricsPort).toBe(port);
      metricsUrl = `http://127.0.0.1:${port}`;
    });
    afterAll(async () => {
      await worker?.stop();
    });

    it('answers /healthz', async () => {
      const res = await fetch(`${metricsUrl}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      expect((await fetch(`${metricsUrl}/nope`)).status).toBe(404);
    });

    it('counts jobs, stored bytes, S3 operations and Telegram API errors', async () => {
      // A finalize job that succeeds: jobs, duration, stored bytes and S3 operations move.
      const png = makePng(24, 24);
      const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
      expect(await putUpload(created.body.upload, png)).toBe(200);
      await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST' });
      expect((await waitTerminal(stack, created.body.assetId)).status).toBe('ready');

      // A Telegram file the Bot API refuses (400 invalid file_id, permanent): an API error and a failed job.
      const tg = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'no-such-file' } } });
      expect(tg.status).toBe(202);
      expect((await waitTerminal(stack, tg.body.assetId)).status).toBe('failed');

      // The asset is terminal as soon as its row says so; the worker counts a job just before
      // BullMQ records it finished: wait for both jobs to be recorded, then read the metrics once.
      const { queues } = stack.apiCtx;
      await finishedJob(queues.queues.finalizeUpload, jobIdFor('finalizeUpload', created.body.assetId));
      await finishedJob(queues.queues.rehost, jobIdFor('rehost', tg.body.assetId));
      const res = await fetch(`${metricsUrl}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      const names = declared(text);
      for (const name of [
        'rehost_jobs_total',
        'rehost_job_duration_seconds',
        'rehost_stored_bytes_total',
        'rehost_telegram_api_errors_total',
        'rehost_s3_errors_total',
        'rehost_s3_operation_duration_seconds',
        'rehost_queue_depth',
        'process_cpu_user_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]) {
        expect(names).toContain(name);
      }
      expect(sample(text, 'rehost_jobs_total', { queue: 'finalize-upload', outcome: 'ready' })).toBe(1);
      expect(sample(text, 'rehost_job_duration_seconds_count', { queue: 'finalize-upload' })).toBe(1);
      expect(sample(text, 'rehost_stored_bytes_total', { queue: 'finalize-upload' })).toBe(png.length);
      expect(sample(text, 'rehost_s3_operation_duration_seconds_count', { operation: 'copy', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'rehost_jobs_total', { queue: 'rehost', outcome: 'failed' })).toBe(1);
      expect(sample(text, 'rehost_telegram_api_errors_total', { method: 'getFile', code: '400' })).toBe(1);
      expect(sample(text, 'rehost_queue_depth', { queue: 'rehost', state: 'completed' })).toBeGreaterThanOrEqual(1);
    });
  });
});

describe('OpenAPI', () => {
  it('/docs serves the UI', async () => {
    const res = await fetch(`${stack.baseUrl}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toMatch(/swagger-ui/i);
  });

  it('/docs/json is an OpenAPI 3 document listing every /v1 route with its security and responses', async () => {
    const res = await fetch(`${stack.baseUrl}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      security?: unknown[];
      components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
    };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);

    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
          .map((m) => `${m.toUpperCase()} ${p}`),
      ),
    );
    const served = v1Routes(stack.api);
    // Every route the API serves under /v1 is documented, and the contract's routes are among them.
    expect(served.length).toBeGreaterThanOrEqual(6);
    for (const route of served) expect(documented).toContain(route);
    for (const route of [
      'POST /v1/uploads',
      'POST /v1/uploads/{assetId}/complete',
      'POST /v1/rehost',
      'GET /v1/assets/{assetId}',
      'DELETE /v1/assets/{assetId}',
      'GET /v1/assets/{assetId}/wait',
    ]) {
      expect(documented).toContain(route);
    }
    // Structurally valid operations: each has responses keyed by status codes.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        expect({ route: `${m} ${p}`, codes: Object.keys(op.responses ?? {}).every((c) => /^([1-5]\d\d|[1-5]XX|default)$/.test(c)) && Object.keys(op.responses ?? {}).length > 0 }).toEqual({ route: `${m} ${p}`, codes: true });
      }
    }
  });
});

/** `METHOD /path/{param}` for every /v1 route Fastify serves, from its printed route tree. */
function v1Routes(app: FastifyInstance): string[] {
  const out = new Set<string>();
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // `│   └── /wait (GET, HEAD)`: four columns per level, then the segment and its methods.
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (parents[depth - 1] ?? '') + m[2]!;
    parents[depth] = path;
    parents.length = depth + 1;
    if (!m[3] || !path.startsWith('/v1/')) continue;
    for (const method of m[3].split(', ')) {
      if (method !== 'HEAD' && method !== 'OPTIONS') out.add(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return [...out].sort();
}

describe('dashboard', () => {
  it("shows a rehost job's data without the bot token", async () => {
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'dashboard-file-1' } } });
    expect(res.status).toBe(202);
    const config = parseEnv(dashboardConfigSchema, {
      ...stack.services.env,
      DASHBOARD_USER: 'ops',
      DASHBOARD_PASSWORD: 'pw',
    });
    const redis = createRedis(stack.services.env.REDIS_URL!);
    const { app, queues } = await buildDashboard(config, redis, silent);
    try {
      const list = await app.inject({
        url: '/admin/queues/api/queues?activeQueue=rehost&status=latest&page=1&jobsPerPage=50',
        headers: { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` },
      });
      expect(list.statusCode).toBe(200);
      const body = list.body;
      const rehostQueue = (list.json() as { queues: { name: string; jobs: { id: string; data: any }[] }[] }).queues.find((q) => q.name === 'rehost')!;
      const job = rehostQueue.jobs.find((j) => j.data?.assetId === res.body.assetId);
      expect(job?.data.source).toMatchObject({ type: 'telegram', fileId: 'dashboard-file-1', bot: 'default' });
      expect(body).not.toContain(bot.token);
      expect(body).not.toContain(bot.token.split(':')[1]!);
      expect(body).not.toContain(stack.token);
    } finally {
      await app.close();
      await Promise.all(queues.map((q) => q.close()));
      redis.disconnect();
    }
  });
});
