import { dedupeKeyForTelegram } from '@rehost/db';
import { AppError, type RehostSource } from '@rehost/jobs';
import { safeGetStream } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { Readable } from 'node:stream';
import type { WorkerContext } from '../context.js';
import { waitForBotSlot } from '../pipeline/bot-rate-gate.js';
import { settleLostReady } from '../pipeline/settle-ready.js';
import { storeVerifiedStream } from '../pipeline/store-verified.js';
import type { Processor } from './types.js';

/** Retried until the asset that first claimed the same Telegram file has finished. */
const waitForHolder = (holderId: string) =>
  new AppError('conflict', `the same file is being stored by asset ${holderId}; waiting for it`);

/**
 * Downloads a platform file and stores it for good. The same Telegram file
 * (file_unique_id) maps to one object: the first asset to claim it downloads; later
 * ones share its key without a second download.
 */
export const rehost: Processor<'rehost'> = async ({ data, log, signal, reportStored, noteCallback }, ctx) => {
  const { assetId, source } = data;
  const asset = await ctx.assets.get(assetId);
  noteCallback?.(Boolean(asset?.callbackUrl));
  if (!asset) return { assetId, status: 'failed', error: { code: 'not_found', message: 'asset was deleted' } };
  if (asset.status === 'ready' || asset.status === 'failed' || asset.status === 'expired') return { assetId, status: asset.status };
  await ctx.assets.transition(assetId, ['queued'], 'processing');

  const opened = await openSource(ctx, assetId, source, signal);
  if ('sharedFrom' in opened) {
    const holder = opened.sharedFrom;
    await ctx.assets.markReady(assetId, {
      key: holder.key!,
      contentType: holder.contentType!,
      size: holder.size!,
      width: holder.width!,
      height: holder.height!,
      sha256: holder.sha256!,
    });
    log.info({ holderId: holder.id }, 'rehost deduplicated');
    return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, holder.key!) };
  }

  // Uploads start only after the move to 'processing': an asset still 'queued' had no earlier run upload anything.
  const img = await storeVerifiedStream(ctx, assetId, opened.stream, signal, { rerun: asset.status === 'processing' });
  const { key, contentType, size, width, height, sha256 } = img;
  const stored = await ctx.assets.markReady(assetId, { key, contentType, size, width, height, sha256 });
  // Lost the race: deleted meanwhile, or another run of this job (same key) finished first.
  if (!stored) return settleLostReady(ctx, assetId, img.key, log);
  reportStored(img.size);
  log.info({ size: img.size, contentType: img.contentType }, 'rehost stored');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, img.key) };
};

type Opened = { stream: Readable } | { sharedFrom: NonNullable<Awaited<ReturnType<WorkerContext['assets']['get']>>> };

async function openSource(ctx: WorkerContext, assetId: string, source: RehostSource, signal: AbortSignal): Promise<Opened> {
  if (source.type === 'url') {
    const { stream } = await safeGetStream(source.url, {
      allowedHosts: ctx.config.REHOST_URL_ALLOWED_HOSTS,
      trustedPrivateHosts: ctx.config.REHOST_URL_TRUSTED_PRIVATE_HOSTS,
      maxBytes: ctx.config.MAX_UPLOAD_BYTES,
      connectTimeoutMs: ctx.config.FETCH_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: ctx.config.FETCH_IDLE_TIMEOUT_MS,
      signal,
    });
    return { stream };
  }

  const bot = ctx.bots.get(source.bot);
  const rate = (): Promise<void> =>
    waitForBotSlot(ctx.redis, ctx.config.QUEUE_PREFIX, source.bot, ctx.config.TELEGRAM_RATE_PER_SECOND, signal);
  await rate();
  const file = await bot.getFile(source.fileId, signal);
  // Claim the file's stable id; whoever holds it stores it, everyone else shares.
  const holderId = await ctx.assets.claimDedupeKey(assetId, dedupeKeyForTelegram(file.fileUniqueId), file.fileUniqueId);
  if (holderId !== assetId) {
    const holder = await ctx.assets.get(holderId);
    if (holder?.status === 'ready') return { sharedFrom: holder };
    throw waitForHolder(holderId);
  }
  await rate();
  const { stream } = await bot.openFile(source.fileId, signal, file);
  return { stream };
}
