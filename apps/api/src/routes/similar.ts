import { AnalysisRepo } from '@rehost/db';
import { assetView, errors } from '@rehost/jobs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { assetIdParams, errorResponse, UUID } from './schemas.js';

/** A whole number from the query string within [min, max]; absent or empty means `fallback`. */
const queryInt = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, c) => {
      if (v === undefined || v === '') return fallback;
      const n = /^\d{1,6}$/.test(v) ? Number(v) : Number.NaN;
      if (Number.isInteger(n) && n >= min && n <= max) return n;
      c.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
      return z.NEVER;
    });

export const similarQuery = z.object({
  /** Largest Hamming distance between the 64-bit pHashes (0 = the same picture as far as the hash can tell). */
  maxDistance: queryInt(0, 32, 10).describe('Largest Hamming distance of the 64-bit pHashes, 0–32 (default 10)'),
  limit: queryInt(1, 100, 20).describe('How many items at most, 1–100 (default 20)'),
});

export const similarResponse = z.object({ items: z.array(assetView.extend({ distance: z.number().int() })) });

/**
 * Near duplicates of an asset (issue 14): the owner's live, ready, analysed assets whose
 * perceptual hash is within `maxDistance`, nearest first; the asset itself excluded.
 */
export const similarRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const analysis = new AnalysisRepo(ctx.sql);
    app.get(
      '/v1/assets/:assetId/similar',
      {
        schema: {
          summary: 'Assets of the same owner that show the same picture (perceptual hash within maxDistance)',
          tags: ['assets'],
          params: assetIdParams,
          querystring: similarQuery,
          response: { 200: similarResponse, 400: errorResponse, 404: errorResponse, 409: errorResponse },
        },
      },
      async (req) => {
        const { assetId } = req.params;
        if (!UUID.test(assetId)) throw errors.notFound('asset');
        const answer = await analysis.similar(assetId, req.query);
        if (answer.status === 'not_found') throw errors.notFound('asset');
        if (answer.status === 'not_analyzed') throw errors.notAnalyzed(answer.reason);
        return {
          items: answer.items.map(({ asset, distance }) => ({ ...toAssetView(asset, ctx.config.PUBLIC_BASE_URL), distance })),
        };
      },
    );
  };
