/**
 * The dashboard against real Redis: basic auth, the Bull Board API over every catalog
 * queue, read-only mode, and the start-up rule for credentials.
 */
import { parseEnv } from '@rehost/config';
import { catalog } from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import { createTestRedis, type TestRedis } from '@rehost/testing';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { buildDashboard } from '../src/app.js';
import { dashboardConfigSchema } from '../src/config.js';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const AUTH = { authorization: basic(USER, PASSWORD) };
const log = createLogger({ name: 'dashboard-test', level: 'silent' });
const queueNames = Object.values(catalog).map((d) => d.queue);

let redis: TestRedis;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis?.cleanup();
});

async function board(env: Record<string, string> = {}): Promise<{ app: FastifyInstance; queues: Queue[]; close: () => Promise<void> }> {
  const config = parseEnv(dashboardConfigSchema, {
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    DASHBOARD_USER: USER,
    DASHBOARD_PASSWORD: PASSWORD,
    ...env,
  });
  const { app, queues } = await buildDashboard(config, redis.redis, log);
  await app.ready();
  const close = async () => {
    await app.close();
    await Promise.all(queues.map((q) => q.close()));
  };
  return { app, queues, close };
}

/** A job that has failed for good (a worker threw UnrecoverableError); read it back through `redis`. */
async function failedJob(queueName: string): Promise<{ id: string; state: () => Promise<string> }> {
  const queue = new Queue(queueName, { connection: redis.redis, prefix: redis.prefix });
  const connection = redis.redis.duplicate();
  const worker = new Worker(
    queueName,
    async () => {
      throw new UnrecoverableError('boom');
    },
    { connection, prefix: redis.prefix },
  );
  try {
    const failed = new Promise<{ id?: string | undefined }>((resolve) => worker.on('failed', (job) => job && resolve(job)));
    await queue.add('test', { assetId: '00000000-0000-4000-8000-000000000001' }, { attempts: 1 });
    const { id } = await failed;
    return { id: id!, state: () => stateOf(queueName, id!) };
  } finally {
    await worker.close();
    await queue.close();
    connection.disconnect();
  }
}

async function stateOf(queueName: string, id: string): Promise<string> {
  const queue = new Queue(queueName, { connection: redis.redis, prefix: redis.prefix });
  try {
    return await queue.getJobState(id);
  } finally {
    await queue.close();
  }
}

describe('basic auth', () => {
  let b: Awaited<ReturnType<typeof board>>;
  beforeAll(async () => {
    b = await board();
  });
  afterAll(async () => {
    await b?.close();
  });

  it('answers 401 with a Basic challenge without credentials', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues', '/']) {
      const res = await b.app.inject({ url });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
    }
  });

  it('answers 401 for a wrong password, a wrong user, or a malformed header', async () => {
    for (const authorization of [basic(USER, 'wrong'), basic('admin', PASSWORD), basic(USER, ''), `Bearer ${PASSWORD}`, 'Basic !!!']) {
      const res = await b.app.inject({ url: '/admin/queues', headers: { authorization } });
      expect(res.statusCode).toBe(401);
    }
  });

  it('serves the board and its API with the right credentials, listing every catalog queue', async () => {
    const page = await b.app.inject({ url: '/admin/queues', headers: AUTH });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('rehost queues');

    const api = await b.app.inject({ url: '/admin/queues/api/queues', headers: AUTH });
    expect(api.statusCode).toBe(200);
    const names = (api.json() as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual([...queueNames].sort());
  });

  it('leaves /healthz open for probes', async () => {
    const res = await b.app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
  });
});

describe('read-only mode', () => {
  const queueName = catalog.rehost.queue;

  it('refuses every job and queue action, and changes nothing', async () => {
    const job = await failedJob(queueName);
    const b = await board({ DASHBOARD_READ_ONLY: 'true' });
    try {
      const base = `/admin/queues/api/queues/${encodeURIComponent(queueName)}`;
      const actions: [method: 'PUT' | 'POST', url: string][] = [
        ['PUT', `${base}/retry/failed`],
        ['PUT', `${base}/${job.id}/retry`],
        ['PUT', `${base}/clean/failed`],
        ['PUT', `${base}/${job.id}/clean`],
        ['PUT', `${base}/empty`],
        ['PUT', `${base}/obliterate`],
        ['PUT', `${base}/pause`],
        ['POST', `${base}/add`],
      ];
      for (const [method, url] of actions) {
        const res = await b.app.inject({ method, url, headers: AUTH, payload: method === 'POST' ? { name: 'x', data: {} } : undefined });
        expect({ url, status: res.statusCode }).toEqual({ url, status: 405 });
      }
      expect(await job.state()).toBe('failed');
      // Reading still works.
      const list = await b.app.inject({ url: `/admin/queues/api/queues?activeQueue=${queueName}&status=failed&page=1&jobsPerPage=10`, headers: AUTH });
      expect(list.statusCode).toBe(200);
      const q = (list.json() as { queues: { name: string; readOnlyMode: boolean; jobs: { id: string }[] }[] }).queues.find((x) => x.name === queueName)!;
      expect(q.readOnlyMode).toBe(true);
      expect(q.jobs.map((j) => j.id)).toContain(job.id);
    } finally {
      await b.close();
    }
  });

  it('(control) without read-only mode the same retry goes through', async () => {
    const job = await failedJob(queueName);
    const b = await board({ DASHBOARD_READ_ONLY: 'false' });
    try {
      const res = await b.app.inject({ method: 'PUT', url: `/admin/queues/api/queues/${queueName}/${job.id}/retry`, headers: AUTH });
      expect(res.statusCode).toBe(204);
      expect(await job.state()).toBe('waiting');
    } finally {
      await b.close();
    }
  });
});

describe('start-up configuration', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('refuses to start without user and password', () => {
    expect(() => parseEnv(dashboardConfigSchema, base)).toThrow(/^Invalid environment: DASHBOARD_USER is required/);
    expect(() => parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_USER: 'ops' })).toThrow(/DASHBOARD_PASSWORD is required/);
    expect(() => parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_PASSWORD: 'pw' })).toThrow(/DASHBOARD_USER is required/);
  });

  it('runs without auth only with DASHBOARD_NO_AUTH=true outside production', () => {
    expect(parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_NO_AUTH: 'true', NODE_ENV: 'development' }).DASHBOARD_NO_AUTH).toBe(true);
    expect(() => parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_NO_AUTH: 'true', NODE_ENV: 'production' })).toThrow(/DASHBOARD_USER/);
    expect(() => parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_NO_AUTH: 'false', NODE_ENV: 'development' })).toThrow(/DASHBOARD_USER/);
  });

  it('never echoes the password in a config error', () => {
    let message = '';
    try {
      parseEnv(dashboardConfigSchema, { ...base, DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD: 'pw-secret', DASHBOARD_READ_ONLY: 'maybe' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DASHBOARD_READ_ONLY/);
    expect(message).not.toContain('pw-secret');
  });

  it('with DASHBOARD_NO_AUTH the board is open', async () => {
    const config = parseEnv(dashboardConfigSchema, { REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, DASHBOARD_NO_AUTH: 'true' });
    const { app, queues } = await buildDashboard(config, redis.redis, log);
    try {
      expect((await app.inject({ url: '/admin/queues/api/queues' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await Promise.all(queues.map((q) => q.close()));
    }
  });
});
