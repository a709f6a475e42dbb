import { randomUUID } from 'node:crypto';
import { ALLOWED_IMAGE_TYPES, errors } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { stagingKeyFor } from '@rehost/storage';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { ownerQuotaOf, withinQuota } from './owners.js';
import { assetIdParams, BODY_ERRORS, errorResponses, mediaType, metadataField, safeString, UUID } from './schemas.js';

export const createUploadBody = z.object({
  contentType: mediaType,
  size: z.number().int().positive(),
  /** Metadata only: never part of the object key. */
  filename: safeString().max(255).optional(),
  ownerId: safeString().max(128).optional(),
  metadata: metadataField.optional(),
});

const createUploadResponse = z.object({
  assetId: z.string(),
  upload: z.object({
    url: z.string(),
    method: z.literal('PUT'),
    headers: z.record(z.string(), z.string()),
    expiresAt: z.string(),
  }),
});

export const completeUploadResponse = z.object({ assetId: z.string(), status: z.string() });

export type CreateUploadInput = z.infer<typeof createUploadBody>;
export type CreatedUpload = z.infer<typeof createUploadResponse>;
export type CompletedUpload = { assetId: string; status: 'processing' | 'ready' | 'failed' };

/** Checks the declaration, signs a PUT to a staging key and records the pending asset. */
export async function createUpload(ctx: ApiContext, input: CreateUploadInput, log: Pick<Logger, 'info'>): Promise<CreatedUpload> {
  const { config, assets, store } = ctx;
  const { contentType, size, filename, ownerId, metadata } = input;
  if (!(ALLOWED_IMAGE_TYPES as readonly string[]).includes(contentType)) {
    throw errors.unsupportedType(contentType, ALLOWED_IMAGE_TYPES);
  }
  if (size > config.MAX_UPLOAD_BYTES) throw errors.tooLarge(size, config.MAX_UPLOAD_BYTES);
  if (metadata && JSON.stringify(metadata).length > 8192) throw errors.badRequest('metadata is larger than 8 KiB');

  const id = randomUUID();
  const stagingKey = stagingKeyFor(id);
  const upload = await store.presignPut(stagingKey, contentType, size, config.UPLOAD_URL_TTL_SECONDS);
  // A pending upload counts as an asset of its owner and reserves its declared size (403 past the quota).
  await withinQuota(() =>
    assets.createUpload(
      { id, declaredContentType: contentType, declaredSize: size, stagingKey, uploadExpiresAt: upload.expiresAt, filename, ownerId, metadata },
      ownerQuotaOf(config),
    ),
  );
  log.info({ assetId: id, size, contentType }, 'upload created');
  return { assetId: id, upload: { ...upload, expiresAt: upload.expiresAt.toISOString() } };
}

/**
 * The client says its PUT is done: enqueue verification. A terminal asset answers with its
 * status and enqueues nothing. `ownerId`, when given, limits this to that owner's uploads.
 */
export async function completeUpload(ctx: ApiContext, assetId: string, opts: { ownerId?: string } = {}): Promise<CompletedUpload> {
  const { assets, store, queues } = ctx;
  const asset = UUID.test(assetId) ? await assets.get(assetId) : null;
  if (!asset || asset.sourceType !== 'upload') throw errors.notFound('upload');
  if (opts.ownerId !== undefined && asset.ownerId !== opts.ownerId) throw errors.notFound('upload');
  if (asset.status === 'ready' || asset.status === 'failed') return { assetId, status: asset.status };
  if (asset.status === 'expired') throw errors.uploadExpired();
  if (asset.status === 'pending_upload') {
    // A cheap HEAD lets a client that completes too early try again, instead of failing the asset.
    const head = await store.head(asset.stagingKey!);
    if (!head) throw errors.objectMissing();
    await assets.transition(assetId, ['pending_upload'], 'processing');
  }
  // Idempotent: the job id is derived from the asset id, so a second call adds nothing.
  await queues.enqueue('finalizeUpload', { assetId });
  return { assetId, status: 'processing' };
}

export const uploadRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/uploads',
      {
        schema: {
          summary: 'Ask for a pre-signed PUT URL for a direct upload',
          tags: ['uploads'],
          body: createUploadBody,
          response: { 201: createUploadResponse, ...errorResponses(...BODY_ERRORS, 403) },
        },
      },
      async (req, reply) => reply.status(201).send(await createUpload(ctx, req.body, req.log)),
    );

    app.post(
      '/v1/uploads/:assetId/complete',
      {
        schema: {
          summary: 'Say the PUT is done; verification runs in the background',
          tags: ['uploads'],
          params: assetIdParams,
          response: {
            202: completeUploadResponse,
            200: completeUploadResponse,
            ...errorResponses(404, 409, 410, 413, 415),
          },
        },
      },
      async (req, reply) => {
        const result = await completeUpload(ctx, req.params.assetId);
        return reply.status(result.status === 'processing' ? 202 : 200).send(result);
      },
    );
  };
