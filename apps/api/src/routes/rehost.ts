import { randomUUID } from 'node:crypto';
import { dedupeKeyForTelegram } from '@rehost/db';
import { AppError, errors, TERMINAL_STATUSES } from '@rehost/jobs';
import { checkUrl } from '@rehost/safe-fetch';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { QueueDepthGate } from '../queue-depth.js';
import { assetView, BODY_ERRORS, errorResponses, metadataField, rehostSourceBody, safeString } from './schemas.js';

const rehostBody = z.object({
  source: rehostSourceBody,
  ownerId: safeString().max(128).optional().describe('Your user id, stored with the asset'),
  idempotencyKey: safeString().min(1).max(200).optional().describe('A repeat with the same key returns the same asset'),
  callbackUrl: safeString()
    .url()
    .max(2048)
    .optional()
    .describe('Receives a POST of the final asset, signed in X-Rehost-Signature (t=<unix>,v1=<hmac-sha256 hex>)'),
  metadata: metadataField.optional(),
});

/** Seconds a client is asked to wait when the queue is over its depth limit. */
const BACKPRESSURE_RETRY_AFTER = 5;

export const rehostRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { config, assets, queues } = ctx;
    const botNames = new Set([...(config.TELEGRAM_BOT_TOKEN ? ['default'] : []), ...Object.keys(config.TELEGRAM_BOTS)]);
    // Sampled rather than read per request: a depth check is not worth a Redis round trip each time.
    const depth = new QueueDepthGate(() => queues.waitingCount(['rehost']), config.MAX_QUEUE_DEPTH);

    app.post(
      '/v1/rehost',
      {
        schema: {
          summary: 'Rehost a Telegram file or an allow-listed URL',
          tags: ['rehost'],
          body: rehostBody,
          response: {
            202: z.object({ assetId: z.string(), status: z.string() }),
            200: assetView.extend({ assetId: z.string() }),
            ...errorResponses(...BODY_ERRORS, 422, 429),
          },
        },
      },
      async (req, reply) => {
        const { source, ownerId, idempotencyKey, callbackUrl, metadata } = req.body;
        if (source.type === 'telegram' && !botNames.has(source.bot)) {
          throw new AppError('bot_not_configured', `no bot named ${JSON.stringify(source.bot)} is configured`, { permanent: true });
        }
        if (source.type === 'url') {
          await checkUrl(source.url, { allowedHosts: config.REHOST_URL_ALLOWED_HOSTS, trustedPrivateHosts: config.REHOST_URL_TRUSTED_PRIVATE_HOSTS });
        }
        if (callbackUrl && !config.WEBHOOK_SIGNING_SECRET) {
          throw errors.badRequest('callbackUrl needs WEBHOOK_SIGNING_SECRET to be configured on the server (callbacks are always signed)');
        }
        if (callbackUrl) {
          await checkUrl(callbackUrl, { allowedHosts: [], trustedPrivateHosts: config.WEBHOOK_ALLOWED_HOSTS });
        }
        if (!(await depth.admit())) throw errors.rateLimited(BACKPRESSURE_RETRY_AFTER);

        const { asset, created } = await assets.createRehost({
          id: randomUUID(),
          sourceType: source.type,
          ...(source.type === 'telegram'
            ? { telegramFileId: source.fileId, telegramFileUniqueId: source.fileUniqueId, telegramBot: source.bot }
            : { sourceUrl: source.url }),
          dedupeKey: source.type === 'telegram' && source.fileUniqueId ? dedupeKeyForTelegram(source.fileUniqueId) : undefined,
          ownerId,
          idempotencyKey,
          callbackUrl,
          metadata,
        });
        if (!created && TERMINAL_STATUSES.includes(asset.status)) {
          // Already stored (or already failed for this idempotency key): answer at once, no second download.
          return reply.status(200).send({ assetId: asset.id, ...toAssetView(asset, config.PUBLIC_BASE_URL) });
        }
        if (created || asset.status === 'queued' || asset.status === 'processing') {
          // Also re-enqueues for a retried request whose first attempt died between insert and enqueue;
          // the deterministic job id makes this a no-op when the job exists.
          const jobSource =
            asset.sourceType === 'telegram'
              ? { type: 'telegram' as const, fileId: asset.telegramFileId!, fileUniqueId: asset.telegramFileUniqueId ?? undefined, bot: asset.telegramBot ?? 'default' }
              : { type: 'url' as const, url: asset.sourceUrl! };
          await queues.enqueue('rehost', { assetId: asset.id, source: jobSource });
        }
        req.log.info({ assetId: asset.id, created, sourceType: source.type }, 'rehost accepted');
        return reply.status(202).send({ assetId: asset.id, status: asset.status });
      },
    );
  };
