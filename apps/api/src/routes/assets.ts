import { errors, TERMINAL_STATUSES } from '@rehost/jobs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { assetIdParams, assetView, errorResponse, UUID } from './schemas.js';

export const assetRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { assets, store, events, config } = ctx;
    const load = async (assetId: string) => {
      const asset = UUID.test(assetId) ? await assets.get(assetId) : null;
      if (!asset) throw errors.notFound('asset');
      return asset;
    };

    app.get(
      '/v1/assets/:assetId',
      { schema: { summary: 'Read an asset', tags: ['assets'], params: assetIdParams, response: { 200: assetView, 404: errorResponse } } },
      async (req) => toAssetView(await load(req.params.assetId), config.PUBLIC_BASE_URL),
    );

    app.get(
      '/v1/assets/:assetId/wait',
      {
        schema: {
          summary: 'Long-poll until the asset is ready or failed (or the timeout passes)',
          tags: ['assets'],
          params: assetIdParams,
          querystring: z.object({ timeoutMs: z.coerce.number().int().min(0).max(120_000).default(30_000) }),
          response: { 200: assetView, 404: errorResponse },
        },
      },
      async (req) => {
        const { assetId } = req.params;
        // Register before reading, so an event between the read and the wait is not missed.
        const abort = new AbortController();
        req.raw.once('close', () => abort.abort());
        const waiter = events.waitFor(assetId, req.query.timeoutMs, abort.signal);
        try {
          let asset = await load(assetId);
          if (!TERMINAL_STATUSES.includes(asset.status)) {
            const event = await waiter.promise;
            if (event) asset = await load(assetId);
          }
          return toAssetView(asset, config.PUBLIC_BASE_URL);
        } finally {
          waiter.cancel();
        }
      },
    );

    app.delete(
      '/v1/assets/:assetId',
      { schema: { summary: 'Delete an asset', tags: ['assets'], params: assetIdParams, response: { 204: z.null(), 404: errorResponse } } },
      async (req, reply) => {
        const { assetId } = req.params;
        const result = UUID.test(assetId) ? await assets.softDelete(assetId) : null;
        if (!result) throw errors.notFound('asset');
        const { asset, deleteObject } = result;
        // The asset is gone from the API already; object clean-up failures are logged and left
        // to the maintenance sweep (orphan report) rather than failing the request.
        const keys = [asset.stagingKey, deleteObject ? asset.key : null].filter((k): k is string => Boolean(k));
        await Promise.all(keys.map((k) => store.delete(k).catch((err) => req.log.warn({ err, assetId }, 'object delete failed'))));
        return reply.status(204).send(null);
      },
    );
  };
