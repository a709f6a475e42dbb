import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';
import type { ApiMetrics } from '../metrics.js';

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

export const healthRoutes =
  (ctx: ApiContext, metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { hide: true } }, async (req, reply) => {
      const checks = {
        redis: async () => void (await ctx.redis.ping()),
        postgres: async () => void (await ctx.sql.query('SELECT 1')),
        bucket: () => ctx.store.ping(),
      };
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            await withTimeout(check(), 2000);
            return [name, 'ok'] as const;
          } catch (err) {
            req.log.warn({ check: name, err: (err as Error).message }, 'readiness check failed');
            return [name, 'unavailable'] as const;
          }
        }),
      );
      const ok = results.every(([, s]) => s === 'ok');
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
    });

    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      reply.header('Content-Type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
