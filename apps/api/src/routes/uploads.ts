import { randomUUID } from 'node:crypto';
import { ALLOWED_IMAGE_TYPES, errors } from '@rehost/jobs';
import { stagingKeyFor } from '@rehost/storage';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { assetIdParams, errorResponse, UUID } from './schemas.js';

const createUploadBody = z.object({
  contentType: z.string().min(1).max(100),
  size: z.number().int().positive(),
  /** Metadata only: never part of the object key. */
  filename: z.string().max(255).optional(),
  ownerId: z.string().max(128).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
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

export const uploadRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { config, assets, store, queues } = ctx;

    app.post(
      '/v1/uploads',
      {
        schema: {
          summary: 'Ask for a pre-signed PUT URL for a direct upload',
          tags: ['uploads'],
          body: createUploadBody,
          response: { 201: createUploadResponse, 400: errorResponse, 413: errorResponse, 415: errorResponse },
        },
      },
      async (req, reply) => {
        const { contentType, size, filename, ownerId, metadata } = req.body;
        if (!(ALLOWED_IMAGE_TYPES as readonly string[]).includes(contentType)) {
          throw errors.unsupportedType(contentType, ALLOWED_IMAGE_TYPES);
        }
        if (size > config.MAX_UPLOAD_BYTES) throw errors.tooLarge(size, config.MAX_UPLOAD_BYTES);
        if (metadata && JSON.stringify(metadata).length > 8192) throw errors.badRequest('metadata is larger than 8 KiB');

        const id = randomUUID();
        const stagingKey = stagingKeyFor(id);
        const upload = await store.presignPut(stagingKey, contentType, size, config.UPLOAD_URL_TTL_SECONDS);
        await assets.createUpload({
          id,
          declaredContentType: contentType,
          declaredSize: size,
          stagingKey,
          uploadExpiresAt: upload.expiresAt,
          filename,
          ownerId,
          metadata,
        });
        req.log.info({ assetId: id, size, contentType }, 'upload created');
        return reply.status(201).send({ assetId: id, upload: { ...upload, expiresAt: upload.expiresAt.toISOString() } });
      },
    );

    app.post(
      '/v1/uploads/:assetId/complete',
      {
        schema: {
          summary: 'Say the PUT is done; verification runs in the background',
          tags: ['uploads'],
          params: assetIdParams,
          response: {
            202: z.object({ assetId: z.string(), status: z.string() }),
            200: z.object({ assetId: z.string(), status: z.string() }),
            404: errorResponse,
            409: errorResponse,
            410: errorResponse,
          },
        },
      },
      async (req, reply) => {
        const { assetId } = req.params;
        const asset = UUID.test(assetId) ? await assets.get(assetId) : null;
        if (!asset || asset.sourceType !== 'upload') throw errors.notFound('upload');
        if (asset.status === 'ready' || asset.status === 'failed') {
          return reply.status(200).send({ assetId, status: asset.status });
        }
        if (asset.status === 'expired') throw errors.uploadExpired();
        if (asset.status === 'pending_upload') {
          // A cheap HEAD lets a client that completes too early try again, instead of failing the asset.
          const head = await store.head(asset.stagingKey!);
          if (!head) throw errors.objectMissing();
          await assets.transition(assetId, ['pending_upload'], 'processing');
        }
        // Idempotent: the job id is derived from the asset id, so a second call adds nothing.
        await queues.enqueue('finalizeUpload', { assetId });
        return reply.status(202).send({ assetId, status: 'processing' });
      },
    );
  };
