import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { catalog, type Redis } from '@rehost/jobs';
import { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '@rehost/logger';
import type { DashboardConfig } from './config.js';

export const BOARD_PATH = '/admin/queues';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Basic auth compared in constant time (digests of equal length). */
function checkBasicAuth(header: string | undefined, user: string, password: string): boolean {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  const userOk = timingSafeEqual(digest(decoded.slice(0, i)), digest(user));
  const passOk = timingSafeEqual(digest(decoded.slice(i + 1)), digest(password));
  return userOk && passOk;
}

/** Bull Board over every queue of the catalog, behind basic auth; nothing else. */
export async function buildDashboard(config: DashboardConfig, redis: Redis, log: Logger): Promise<{ app: FastifyInstance; queues: Queue[] }> {
  const queues = Object.values(catalog).map((def) => new Queue(def.queue, { connection: redis, prefix: config.QUEUE_PREFIX }));
  const serverAdapter = new FastifyAdapter();
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: config.DASHBOARD_READ_ONLY })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'rehost queues' } },
  });
  serverAdapter.setBasePath(BOARD_PATH);

  const app = Fastify({ loggerInstance: log as FastifyBaseLogger });
  const { DASHBOARD_USER: user, DASHBOARD_PASSWORD: password } = config;
  if (user && password) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz') return;
      if (!checkBasicAuth(req.headers.authorization, user, password)) {
        return reply.status(401).header('WWW-Authenticate', 'Basic realm="rehost dashboard"').send({ error: { code: 'unauthorized', message: 'basic auth required' } });
      }
    });
  }
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/', async (_req, reply) => reply.redirect(BOARD_PATH));
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  return { app, queues };
}
