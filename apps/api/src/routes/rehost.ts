import { randomUUID } from 'node:crypto';
import type { Asset, InsertedRehost, NewRehostAsset, SharedObject } from '@rehost/db';
import { AppError, errors, publishAssetEvent, TERMINAL_STATUSES } from '@rehost/jobs';
import { checkUrl } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toAssetView } from '../asset-view.js';
import type { ApiContext } from '../context.js';
import { callerScope, requestFingerprint, scopedIdempotencyKey } from '../idempotency.js';
import { noteForAccessLog } from '../plugins/request-log.js';
import { QueueDepthGate } from '../queue-depth.js';
import { ownerQuotaOf, withinQuota } from './owners.js';
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

/** What a new asset takes over from a ready one stored from the same file. */
const sharedObjectOf = (a: Asset): SharedObject => ({
  key: a.key!,
  contentType: a.contentType!,
  size: a.size!,
  width: a.width!,
  height: a.height!,
  sha256: a.sha256!,
  sourceSha256: a.sourceSha256,
  orientation: a.orientation,
  metadataRemoved: a.metadataRemoved,
  fileKey: a.fileKey,
  telegramFileUniqueId: a.telegramFileUniqueId,
});

/**
 * An asset that is ready at birth is announced like one a job finished: the completion event
 * (for event-stream readers) and, when it asked for one, its own signed callback.
 */
async function announceReady(ctx: ApiContext, asset: Asset): Promise<void> {
  await publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, {
    assetId: asset.id,
    status: 'ready',
    url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, asset.key!),
  });
  if (asset.callbackUrl) await ctx.queues.enqueue('webhook', { assetId: asset.id, status: 'ready' });
  // Its facts are those of the object it shares: the analyze job copies them (or decodes, if none yet).
  if (!ctx.config.ANALYZE_IMAGES) return;
  await ctx.queues
    .enqueue('analyze', { assetId: asset.id })
    .catch((err: unknown) => ctx.log.warn({ err, assetId: asset.id }, 'analyze not enqueued; the backfill will pick it up'));
}

/** Seconds a client is asked to wait when the queue is over its depth limit. */
const BACKPRESSURE_RETRY_AFTER = 5;

export const rehostRoutes =
  (ctx: ApiContext): FastifyPluginAsyncZod =>
  async (app) => {
    const { config, assets, queues } = ctx;
    const botNames = new Set([...(config.TELEGRAM_BOT_TOKEN ? ['default'] : []), ...Object.keys(config.TELEGRAM_BOTS)]);
    // Sampled rather than read per request: a depth check is not worth a Redis round trip each time.
    const depth = new QueueDepthGate(() => queues.waitingCount(['rehost']), config.MAX_QUEUE_DEPTH);
    const enqueueRehost = (asset: InsertedRehost) =>
      queues.enqueue('rehost', {
        assetId: asset.id,
        source:
          asset.sourceType === 'telegram'
            ? { type: 'telegram', fileId: asset.telegramFileId!, fileUniqueId: asset.telegramFileUniqueId ?? undefined, bot: asset.telegramBot ?? 'default' }
            : { type: 'url', url: asset.sourceUrl! },
      });

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
            ...errorResponses(...BODY_ERRORS, 403, 409, 410, 422, 429),
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

        const scopedKey = idempotencyKey ? scopedIdempotencyKey(callerScope(req.headers.authorization), idempotencyKey) : undefined;
        const requestHash = scopedKey ? requestFingerprint(req.body) : undefined;
        /** A retry (same key): the asset its first request created, if the body is the same and it still lives. */
        const answerRetry = async (asset: Asset) => {
          noteForAccessLog(req, { assetId: asset.id, idempotentRetry: true });
          if (asset.requestHash && asset.requestHash !== requestHash) throw errors.idempotencyConflict();
          if (asset.deletedAt) throw errors.assetDeleted(asset.id);
          if (TERMINAL_STATUSES.includes(asset.status)) {
            return reply.status(200).send({ assetId: asset.id, ...toAssetView(asset, config.PUBLIC_BASE_URL) });
          }
          // The first attempt may have died between insert and enqueue; the job id makes this a no-op otherwise.
          await enqueueRehost(asset);
          return reply.status(202).send({ assetId: asset.id, status: asset.status });
        };

        if (scopedKey) {
          const earlier = await assets.findByIdempotencyKey(scopedKey);
          if (earlier) return answerRetry(earlier);
        }
        const row: NewRehostAsset = {
          id: randomUUID(),
          sourceType: source.type,
          ...(source.type === 'telegram'
            ? { telegramFileId: source.fileId, telegramFileUniqueId: source.fileUniqueId, telegramBot: source.bot }
            : { sourceUrl: source.url }),
          ownerId,
          idempotencyKey: scopedKey,
          requestHash,
          callbackUrl,
          metadata,
        };

        const quota = ownerQuotaOf(config);
        // Back-pressure concerns only what would enqueue: retries and stored files are answered
        // past MAX_QUEUE_DEPTH and give back the slot they were admitted with.
        let holdsSlot = await depth.admit();
        let outcome: Awaited<ReturnType<typeof assets.createTelegramRehost>> | null = null;
        if (source.type === 'telegram') {
          // Admitted, a file not stored yet is inserted by the statement that looks for it: one round trip.
          outcome = holdsSlot
            ? await withinQuota(() => assets.createTelegramRehost(row, quota))
            : await assets.findStoredTelegramFile(source.bot, source.fileId).then((stored) => (stored ? { stored } : null));
          if (outcome && 'stored' in outcome) {
            if (holdsSlot) depth.release();
            holdsSlot = false;
            // The same file of the same bot is stored already: a new asset of this caller's own,
            // sharing the bytes — ready at once, no download, never another caller's asset.
            const { stored } = outcome;
            const shared = await withinQuota(() => assets.createShared(row, sharedObjectOf(stored), quota));
            if (shared && !shared.created) return answerRetry(shared.asset);
            if (shared) {
              await announceReady(ctx, shared.asset);
              noteForAccessLog(req, { assetId: shared.asset.id, sharedFrom: stored.id });
              return reply.status(200).send({ assetId: shared.asset.id, ...toAssetView(shared.asset, config.PUBLIC_BASE_URL) });
            }
            outcome = null; // its object went with its last holder: store the file anew
          }
        }
        if (!outcome) {
          if (!holdsSlot && !(await depth.admit())) throw errors.rateLimited(BACKPRESSURE_RETRY_AFTER);
          outcome = await withinQuota(() => assets.createRehost(row, quota));
        }
        const { asset, created } = outcome;
        if (!created) return answerRetry(asset);
        await enqueueRehost(asset);
        noteForAccessLog(req, { assetId: asset.id, sourceType: source.type });
        return reply.status(202).send({ assetId: asset.id, status: asset.status });
      },
    );
  };
