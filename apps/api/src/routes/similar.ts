import { AnalysisRepo } from '@rehost/db';
import { assetView, errors } from '@rehost/jobs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { assetIdParams, errorResponses, queryInt, UUID } from './schemas.js';

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
          response: { 200: similarResponse, ...errorResponses(404, 409) },
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
