/**
 * During a PostgreSQL outage the API answers 503 `unavailable` with Retry-After, never 500, on
 * every /v1 route that reads or writes rows; and it recovers by itself when the database is back.
 * The database sits behind a TCP proxy (reliability/tcp-proxy.ts) that resets every connection
 * (a crash, a failover) or stops moving bytes (a partition).
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildApp } from '@rehost/api/app';
import { apiConfigSchema } from '@rehost/api/config';
import { type ApiContext, createApiContext } from '@rehost/api/context';
import { parseEnv } from '@rehost/config';
import { createLogger } from '@rehost/logger';
import { createTestServices, type TestServices } from '@rehost/testing';
import type { FastifyInstance } from 'fastify';
import { startTcpProxy, type TcpProxy } from '../../reliability/tcp-proxy.js';
import { ResponseValidator } from './openapi-check.js';

const TOKEN = 'outage-token';
let services: TestServices;
let proxy: TcpProxy;
let ctx: ApiContext;
let api: FastifyInstance;
let responses: ResponseValidator;
let base: string;
const logLines: string[] = [];

beforeAll(async () => {
  services = await createTestServices();
  const dbUrl = new URL(services.env.DATABASE_URL!);
  proxy = await startTcpProxy({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  dbUrl.host = `${proxy.host}:${proxy.port}`;
  const env = {
    ...process.env,
    ...services.env,
    DATABASE_URL: dbUrl.toString(),
    API_TOKENS: TOKEN,
    // A configured bot, so rehost requests get as far as the database (no job runs here).
    TELEGRAM_BOT_TOKEN: '123456:outage-test-token-not-used-anywhere',
  };
  const log = createLogger({ name: 'rehost', level: 'info', destination: { write: (s: string) => void logLines.push(s) } });
  ctx = await createApiContext(parseEnv(apiConfigSchema, env), log);
  api = await buildApp(ctx);
  responses = new ResponseValidator(api).attach();
  await api.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy?.resume();
  await api?.close();
  await ctx?.close();
  await proxy?.close();
  await services?.cleanup();
  responses?.assertClean();
});

async function call(method: string, path: string, json?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: text ? JSON.parse(text) : undefined };
}

const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const requests: [string, string, unknown?][] = [
  ['GET', `/v1/assets/${UNKNOWN}`],
  ['GET', `/v1/assets/${UNKNOWN}/wait?timeoutMs=100`],
  ['DELETE', `/v1/assets/${UNKNOWN}`],
  ['POST', `/v1/uploads/${UNKNOWN}/complete`],
  ['POST', '/v1/uploads', { contentType: 'image/png', size: 100 }],
  ['POST', '/v1/rehost', { source: { type: 'telegram', fileId: 'outage-file' } }],
];

function expectUnavailable(res: Awaited<ReturnType<typeof call>>, what: string) {
  expect({ what, status: res.status, body: res.body }).toEqual({
    what,
    status: 503,
    body: { error: { code: 'unavailable', message: expect.any(String) } },
  });
  expect(Number(res.retryAfter)).toBeGreaterThan(0);
}

describe('PostgreSQL outage', () => {
  it('works while the database is up (the pool holds live connections through the proxy)', async () => {
    expect((await call('GET', `/v1/assets/${UNKNOWN}`)).status).toBe(404);
    expect((await call('POST', '/v1/uploads', { contentType: 'image/png', size: 100 })).status).toBe(201);
    expect(proxy.open).toBeGreaterThan(0);
  });

  it('connections reset and refused: every route answers 503 unavailable with Retry-After', async () => {
    proxy.drop();
    for (const [method, path, json] of requests) expectUnavailable(await call(method, path, json), `${method} ${path}`);
    // Twice: the first round met dead pooled connections, this one only refused new ones.
    for (const [method, path, json] of requests) expectUnavailable(await call(method, path, json), `${method} ${path} (again)`);
  });

  it('recovers by itself once the database is back', async () => {
    proxy.resume();
    expect((await call('GET', `/v1/assets/${UNKNOWN}`)).status).toBe(404);
    expect((await call('POST', '/v1/uploads', { contentType: 'image/png', size: 100 })).status).toBe(201);
  });

  it('a database that stops answering (partition) is a 503 too, once the connection attempt times out', async () => {
    // Live pooled connections would wait for their query forever; only fresh ones time out.
    proxy.drop();
    await call('GET', `/v1/assets/${UNKNOWN}`);
    proxy.resume();
    proxy.pause();
    const started = Date.now();
    expectUnavailable(await call('GET', `/v1/assets/${UNKNOWN}`), 'GET during a partition');
    expect(Date.now() - started).toBeLessThan(15_000);
    proxy.resume();
  });

  it('no 500 was logged; each outage was logged as a warning', () => {
    const errorsLogged = logLines.filter((l) => /"msg":"request failed"/.test(l));
    expect(errorsLogged).toEqual([]);
    expect(logLines.some((l) => /backing service unavailable/.test(l))).toBe(true);
  });
});
