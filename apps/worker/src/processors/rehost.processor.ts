import type { Readable } from 'node:stream';
import { type Asset, dedupeKeyForTelegram } from '@rehost/db';
import { AppError, type AssetEvent, errors, TERMINAL_STATUSES } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { safeGetStream } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import { waitForBotSlot } from '../pipeline/bot-rate-gate.js';
import { discardUnrecorded, resultOf, settleLostReady } from '../pipeline/settle-ready.js';
import { storeVerifiedStream } from '../pipeline/store-verified.js';
import type { JobRun, Processor } from './types.js';

/** Retried until the asset that is storing the same Telegram file right now has finished. */
const waitForHolder = () => new AppError('conflict', 'the same file is being stored by another asset right now; waiting for it');

/**
 * Downloads a platform file and stores it for good. Every request has its own asset; the same
 * Telegram file (file_unique_id, as getFile answers it — never as the caller claims it) is
 * downloaded once: one asset at a time holds the file's in-flight claim, and later ones share
 * the stored object without a second download.
 */
export const rehost: Processor<'rehost'> = async (run, ctx) => {
  const { assetId, source } = run.data;
  const asset = await ctx.assets.get(assetId);
  run.noteCallback?.(Boolean(asset?.callbackUrl));
  if (!asset || TERMINAL_STATUSES.includes(asset.status)) return resultOf(ctx, assetId, asset);

  if (source.type === 'url') {
    if (asset.status === 'queued') await ctx.assets.transition(assetId, ['queued'], 'processing');
    const { stream } = await safeGetStream(source.url, {
      allowedHosts: ctx.config.REHOST_URL_ALLOWED_HOSTS,
      trustedPrivateHosts: ctx.config.REHOST_URL_TRUSTED_PRIVATE_HOSTS,
      maxBytes: ctx.config.MAX_UPLOAD_BYTES,
      connectTimeoutMs: ctx.config.FETCH_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: ctx.config.FETCH_IDLE_TIMEOUT_MS,
      signal: run.signal,
    });
    return storeAndSettle(run, ctx, asset, stream, null);
  }

  const bot = ctx.bots.get(source.bot);
  const rate = (): Promise<void> =>
    waitForBotSlot(ctx.redis, ctx.config.QUEUE_PREFIX, source.bot, ctx.config.TELEGRAM_RATE_PER_SECOND, run.signal);
  await rate();
  const file = await bot.getFile(source.fileId, run.signal);
  // The caller's fileUniqueId is a claim; getFile's answer is the fact. A mismatch stores nothing
  // and claims nothing, so nobody asking for the honest id is ever answered with these bytes.
  if (source.fileUniqueId && source.fileUniqueId !== file.fileUniqueId) {
    throw errors.telegramFileMismatch(source.fileUniqueId, file.fileUniqueId);
  }
  const fileKey = dedupeKeyForTelegram(file.fileUniqueId);

  // Claim first, then look for a stored copy: whoever released the claim before us was ready
  // (or failed, or deleted) by then, so a stored copy is visible now and is shared, not downloaded again.
  const claim = await ctx.assets.claimFile(assetId, fileKey, file.fileUniqueId);
  if (claim === 'gone') return resultOf(ctx, assetId, await ctx.assets.get(assetId));
  const shared = await shareStored(ctx, assetId, fileKey, run.log);
  if (shared) return shared;
  if (claim === 'held') throw waitForHolder();

  await rate();
  const { stream } = await bot.openFile(source.fileId, run.signal, file);
  return storeAndSettle(run, ctx, asset, stream, fileKey);
};

/** Ready on the object of a live asset that holds the same file, if there is one. */
async function shareStored(ctx: WorkerContext, assetId: string, fileKey: string, log: Logger): Promise<AssetEvent | null> {
  const holder = await ctx.assets.findStoredFile(fileKey);
  if (!holder?.key) return null;
  const outcome = await ctx.assets.markReadyShared(assetId, {
    key: holder.key,
    contentType: holder.contentType!,
    size: holder.size!,
    width: holder.width!,
    height: holder.height!,
    sha256: holder.sha256!,
    fileKey,
    telegramFileUniqueId: holder.telegramFileUniqueId,
  });
  // Its last holder was deleted between the lookup and the lock: store the file anew.
  if (outcome === 'unavailable') return null;
  if (outcome === 'gone') return resultOf(ctx, assetId, await ctx.assets.get(assetId));
  log.info({ sharedFrom: holder.id }, 'rehost deduplicated');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, holder.key) };
}

async function storeAndSettle(run: JobRun<'rehost'>, ctx: WorkerContext, asset: Asset, stream: Readable, fileKey: string | null): Promise<AssetEvent> {
  const { assetId } = run.data;
  // An asset already `processing` when the job began had an earlier run that may have left parts.
  const img = await storeVerifiedStream(ctx, assetId, stream, run.signal, { rerun: asset.status === 'processing' });
  const { key, contentType, size, width, height, sha256 } = img;
  let stored: boolean;
  try {
    stored = await ctx.assets.markReady(assetId, { key, contentType, size, width, height, sha256 }, fileKey);
  } catch (err) {
    await discardUnrecorded(ctx, assetId, key, run.log);
    throw err;
  }
  // Deleted or failed meanwhile, or another run finished first: this run's object is nobody's.
  if (!stored) return settleLostReady(ctx, assetId, key, run.log);
  run.reportStored(size);
  run.log.info({ size, contentType }, 'rehost stored');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, key) };
}
