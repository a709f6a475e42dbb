import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import type { ApiMetrics } from '../metrics.js';
import { errorResponse } from './schemas.js';

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

/** While the process shuts down every route, these too, answers 503 `unavailable` with Retry-After. */
const closing = errorResponse.describe('unavailable: this process is shutting down; retry after Retry-After seconds (another instance answers)');
const checkState = z.enum(['ok', 'unavailable']);
const readiness = z.object({
  status: checkState,
  checks: z.object({ redis: checkState, postgres: checkState, bucket: checkState }),
});
/** The ops routes need no token. */
const ops = { tags: ['ops'], security: [] };

export const healthRoutes =
  (ctx: ApiContext, metrics: ApiMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          ...ops,
          summary: 'Liveness: the process answers',
          response: { 200: z.object({ status: z.literal('ok') }), 503: closing },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          ...ops,
          summary: 'Readiness: Redis, PostgreSQL and the bucket answer within 2 s',
          response: {
            200: readiness.describe('every check is ok'),
            503: z
              .union([readiness, errorResponse])
              .describe('a check failed (the body names it: {status: "unavailable", checks}), or this process is shutting down ({error})'),
          },
        },
      },
      async (req, reply) => {
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
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(results) } as z.infer<typeof readiness>);
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          ...ops,
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          response: {
            200: { description: 'the metrics, as text/plain; version=0.0.4', content: { 'text/plain': { schema: z.string() } } },
            503: closing,
          },
        },
      },
      async (_req, reply) => {
        reply.header('Content-Type', metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    );
  };
