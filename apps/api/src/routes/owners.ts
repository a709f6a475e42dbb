import { createHash, randomUUID } from 'node:crypto';
import { type Asset, type OwnerQuota, OwnerQuotaExceeded, OwnersRepo, type PagePosition } from '@rehost/db';
import { ASSET_STATUSES, assetPage, erasureStarted, erasureView, errors, ownerUsage } from '@rehost/jobs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { noteForAccessLog } from '../plugins/request-log.js';
import { BODY_ERRORS, emptyAsUnset, errorResponse, errorResponses, queryInt, safeString, UUID } from './schemas.js';

/** OWNER_MAX_ASSETS / OWNER_MAX_BYTES as the repository takes them. */
export const ownerQuotaOf = (config: ApiContext['config']): OwnerQuota => ({ maxAssets: config.OWNER_MAX_ASSETS, maxBytes: config.OWNER_MAX_BYTES });

/** Runs a write that may meet an owner's quota; the repository's refusal becomes a 403. */
export async function withinQuota<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof OwnerQuotaExceeded) throw errors.quotaExceeded(err.ownerId, err.limit);
    throw err;
  }
}

export const listQuery = z.object({
  ownerId: z.preprocess(emptyAsUnset, safeString().min(1).max(128).optional()),
  status: z.preprocess(emptyAsUnset, z.enum(ASSET_STATUSES).optional()),
  sourceType: z.preprocess(emptyAsUnset, z.enum(['telegram', 'upload', 'url']).optional()),
  limit: queryInt(1, 200, 50),
  cursor: z.preprocess(emptyAsUnset, safeString().max(512).optional()),
});
type ListQuery = z.infer<typeof listQuery>;

/**
 * The cursor is opaque to callers: the last row's (createdAt, id) and a digest of the filters it
 * belongs to, base64url. A cursor of another listing (other owner or filters) is refused.
 */
const filterDigest = (q: ListQuery) => createHash('sha256').update(JSON.stringify([q.ownerId ?? null, q.status ?? null, q.sourceType ?? null])).digest('base64url').slice(0, 16);

function encodeCursor(q: ListQuery, last: Asset): string {
  return Buffer.from(JSON.stringify({ t: last.createdAt.toISOString(), i: last.id, f: filterDigest(q) })).toString('base64url');
}

function decodeCursor(q: ListQuery): PagePosition | undefined {
  if (q.cursor === undefined) return undefined;
  let parsed: { t?: unknown; i?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8'));
  } catch {
    throw errors.badRequest('cursor is malformed; pass nextCursor from a previous page as it is');
  }
  const createdAt = typeof parsed.t === 'string' ? new Date(parsed.t) : undefined;
  if (!createdAt || Number.isNaN(createdAt.getTime()) || typeof parsed.i !== 'string' || !UUID.test(parsed.i)) {
    throw errors.badRequest('cursor is malformed; pass nextCursor from a previous page as it is');
  }
  if (parsed.f !== filterDigest(q)) throw errors.badRequest('cursor belongs to another listing (other ownerId, status or sourceType)');
  return { createdAt, id: parsed.i };
}

const ownerParams = z.object({ ownerId: safeString().min(1).max(128) });
/** An unknown owner is not a 404 here; an ownerId that is not one path segment (`/v1/owners//usage`) matches no route, and that is. */
const noSuchRoute = errorResponse.describe("not_found: the ownerId is not one path segment (empty, '.' or '..', which URLs resolve away), so the path matches no route; an unknown owner is not a 404");

export const ownerRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const owners = new OwnersRepo(ctx.sql);

    app.get(
      '/v1/assets',
      {
        schema: {
          summary: "List assets, newest first (keyset pages; deleted assets never listed)",
          tags: ['owners'],
          querystring: listQuery,
          response: { 200: assetPage, ...errorResponses() },
        },
      },
      async (req) => {
        const after = decodeCursor(req.query);
        const rows = await owners.listAssets(req.query, req.query.limit + 1, after);
        const page = rows.slice(0, req.query.limit);
        const more = rows.length > req.query.limit;
        return {
          items: page.map((a) => toAssetView(a, ctx.config.PUBLIC_BASE_URL)),
          nextCursor: more ? encodeCursor(req.query, page[page.length - 1]!) : null,
        };
      },
    );

    app.get(
      '/v1/owners/:ownerId/usage',
      {
        schema: {
          summary: "An owner's live assets, stored bytes and reserved bytes (an owner with none: all zero)",
          tags: ['owners'],
          params: ownerParams,
          response: { 200: ownerUsage, ...errorResponses(), 404: noSuchRoute },
        },
      },
      async (req) => owners.usage(req.params.ownerId),
    );

    app.delete(
      '/v1/owners/:ownerId/assets',
      {
        schema: {
          summary: 'Erase every asset of an owner (runs as a job; a second request while it runs returns the same erasure)',
          tags: ['owners'],
          params: ownerParams,
          // An owner with nothing stored still gets an erasure (total 0); a DELETE may carry a body.
          response: { 202: erasureStarted, ...errorResponses(...BODY_ERRORS), 404: noSuchRoute },
        },
      },
      async (req, reply) => {
        const { erasure } = await owners.startErasure(randomUUID(), req.params.ownerId);
        // Enqueued on every request: a first attempt that died before enqueueing is picked up again (same job id).
        await ctx.queues.enqueueErasure(erasure.id);
        noteForAccessLog(req, { erasureId: erasure.id });
        return reply.status(202).send({ erasureId: erasure.id, status: erasure.status });
      },
    );

    app.get(
      '/v1/erasures/:erasureId',
      {
        schema: {
          summary: 'How an erasure stands',
          tags: ['owners'],
          params: z.object({ erasureId: safeString().max(64) }),
          response: { 200: erasureView, ...errorResponses(404) },
        },
      },
      async (req) => {
        const e = UUID.test(req.params.erasureId) ? await owners.getErasure(req.params.erasureId) : null;
        if (!e) throw errors.notFound('erasure');
        return {
          erasureId: e.id,
          status: e.status,
          deleted: e.deleted,
          total: e.total,
          startedAt: e.startedAt.toISOString(),
          finishedAt: e.finishedAt?.toISOString() ?? null,
        };
      },
    );
  };

