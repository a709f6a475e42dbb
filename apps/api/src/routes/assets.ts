import { type AssetView, errors, publishAssetEvent, removeAsset, TERMINAL_STATUSES } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { assetIdParams, assetView, BODY_ERRORS, errorResponses, LONGEST_WAIT_MS, queryInt, UUID } from './schemas.js';

export const waitQuery = z.object({ timeoutMs: queryInt(0, LONGEST_WAIT_MS, 30_000) });

/** `ownerId`, when given, limits the lookup to that owner's assets (others are not found). */
async function loadAsset(ctx: ApiContext, assetId: string, ownerId?: string) {
  const asset = UUID.test(assetId) ? await ctx.assets.get(assetId) : null;
  if (!asset || (ownerId !== undefined && asset.ownerId !== ownerId)) throw errors.notFound('asset');
  return asset;
}

/**
 * Answers as soon as the asset is terminal, or with its current state after `timeoutMs`
 * (or when `signal` aborts: the client went away).
 */
export async function waitForAsset(
  ctx: ApiContext,
  assetId: string,
  opts: { timeoutMs: number; signal?: AbortSignal; ownerId?: string },
): Promise<AssetView> {
  // Register before reading, so an event between the read and the wait is not missed.
  const waiter = ctx.events.waitFor(assetId, opts.timeoutMs, opts.signal);
  try {
    let asset = await loadAsset(ctx, assetId, opts.ownerId);
    if (!TERMINAL_STATUSES.includes(asset.status)) {
      const event = await waiter.promise;
      if (event) asset = await loadAsset(ctx, assetId, opts.ownerId);
    }
    return toAssetView(asset, ctx.config.PUBLIC_BASE_URL);
  } finally {
    waiter.cancel();
  }
}

/** DELETE's semantics (packages/jobs `removeAsset`) with this process's store, repo and event stream. */
function removalFor(ctx: ApiContext, log: Pick<Logger, 'warn'>) {
  return {
    softDelete: (id: string) => ctx.assets.softDelete(id),
    deleteObject: (key: string) => ctx.store.delete(key),
    publish: (event: Parameters<typeof publishAssetEvent>[2]) => publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event),
    warn: (err: unknown, message: string) => log.warn({ err }, message),
  };
}

/** Aborts when the request's connection closes, so a long-poll stops waiting for nobody. */
export function closeSignal(req: FastifyRequest): AbortSignal {
  const abort = new AbortController();
  req.raw.once('close', () => abort.abort());
  return abort.signal;
}

export const assetRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { config } = ctx;

    app.get(
      '/v1/assets/:assetId',
      { schema: { summary: 'Read an asset', tags: ['assets'], params: assetIdParams, response: { 200: assetView, ...errorResponses(404) } } },
      async (req) => toAssetView(await loadAsset(ctx, req.params.assetId), config.PUBLIC_BASE_URL),
    );

    app.get(
      '/v1/assets/:assetId/wait',
      {
        schema: {
          summary: 'Long-poll until the asset is ready or failed (or the timeout passes)',
          tags: ['assets'],
          params: assetIdParams,
          querystring: waitQuery,
          response: { 200: assetView, ...errorResponses(404) },
        },
      },
      async (req) => waitForAsset(ctx, req.params.assetId, { timeoutMs: req.query.timeoutMs, signal: closeSignal(req) }),
    );

    app.delete(
      '/v1/assets/:assetId',
      { schema: { summary: 'Delete an asset', tags: ['assets'], params: assetIdParams, response: { 204: z.null(), ...errorResponses(404, ...BODY_ERRORS) } } },
      async (req, reply) => {
        const { assetId } = req.params;
        const removed = UUID.test(assetId) && (await removeAsset(removalFor(ctx, req.log), assetId));
        if (!removed) throw errors.notFound('asset');
        return reply.status(204).send(null);
      },
    );
  };
