import type { Readable } from 'node:stream';
import { type Asset, dedupeKeyForTelegram, OwnerQuotaExceeded } from '@rehost/db';
import { AppError, type AssetEvent, errors, TERMINAL_STATUSES } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { safeGetStream } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import { waitForBotSlot } from '../pipeline/bot-rate-gate.js';
import { discardUnrecorded, resultOf, settleLostReady } from '../pipeline/settle-ready.js';
import { storeVerifiedStream } from '../pipeline/store-verified.js';
import { type JobRun, type Processor, WaitAndRecheck } from './types.js';

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
  const resolve = async () => {
    await rate();
    const file = await bot.getFile(source.fileId, run.signal);
    // The caller's fileUniqueId is a claim; getFile's answer is the fact. A mismatch stores nothing
    // and claims nothing, so nobody asking for the honest id is ever answered with these bytes.
    if (source.fileUniqueId && source.fileUniqueId !== file.fileUniqueId) {
      throw errors.telegramFileMismatch(source.fileUniqueId, file.fileUniqueId);
    }
    return file;
  };
  // A job that waited for another asset knows the file's id from its own earlier getFile.
  let file = run.data.waiting ? undefined : await resolve();
  const fileUniqueId = run.data.waiting?.fileUniqueId ?? file!.fileUniqueId;
  const fileKey = dedupeKeyForTelegram(fileUniqueId);

  // One statement: the in-flight claim, and a stored copy of the file to share if there is one.
  const claim = await ctx.assets.claimFile(assetId, fileKey, fileUniqueId);
  if (claim.outcome === 'gone') return resultOf(ctx, assetId, await ctx.assets.get(assetId));
  const shared = claim.stored ? await shareStored(ctx, asset, claim.stored, fileKey, run.log) : null;
  if (shared) return shared;
  if (claim.outcome === 'held') return waitForHolder(run, ctx, fileUniqueId);

  file ??= await resolve();
  await rate();
  const { stream } = await bot.openFile(source.fileId, run.signal, file);
  return storeAndSettle(run, ctx, asset, stream, fileKey);
};

/**
 * Another live asset is storing this file right now: check again after a growing delay (0.25 s,
 * doubling to 5 s), without using up an attempt or calling getFile again, until it is stored,
 * or gone (then this asset takes the claim), or FOLLOWER_MAX_WAIT_SECONDS have passed (then
 * the wait is retried like any failure).
 */
function waitForHolder(run: JobRun<'rehost'>, ctx: WorkerContext, fileUniqueId: string): never {
  const since = run.data.waiting?.since ?? Date.now();
  const count = (run.data.waiting?.count ?? 0) + 1;
  if (Date.now() - since > ctx.config.FOLLOWER_MAX_WAIT_SECONDS * 1000) {
    throw new AppError('conflict', 'the same file has been being stored by another asset for too long');
  }
  throw new WaitAndRecheck(Math.min(250 * 2 ** (count - 1), 5000), { waiting: { fileUniqueId, since, count } });
}

/** Ready on the object of a live asset that holds the same file, if there is one. */
async function shareStored(ctx: WorkerContext, asset: Asset, holder: Asset, fileKey: string, log: Logger): Promise<AssetEvent | null> {
  const assetId = asset.id;
  const key = holder.key;
  if (!key) return null;
  const object = {
    key,
    contentType: holder.contentType!,
    size: holder.size!,
    width: holder.width!,
    height: holder.height!,
    sha256: holder.sha256!,
    fileKey,
    telegramFileUniqueId: holder.telegramFileUniqueId,
  };
  const outcome = await overQuotaFails(() => ctx.assets.markReadyShared(assetId, object, ownerOf(ctx, asset)));
  // Its last holder was deleted between the lookup and the lock: store the file anew.
  if (outcome === 'unavailable') return null;
  if (outcome === 'gone') return resultOf(ctx, assetId, await ctx.assets.get(assetId));
  log.info({ sharedFrom: holder.id }, 'rehost deduplicated');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, key) };
}

const ownerOf = (ctx: WorkerContext, asset: Asset) => ({
  ownerId: asset.ownerId,
  quota: { maxAssets: ctx.config.OWNER_MAX_ASSETS, maxBytes: ctx.config.OWNER_MAX_BYTES },
});

/** The stored size would cross the owner's byte quota: the asset fails for good, nothing stored. */
async function overQuotaFails<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof OwnerQuotaExceeded) throw errors.quotaExceeded(err.ownerId, err.limit);
    throw err;
  }
}

async function storeAndSettle(run: JobRun<'rehost'>, ctx: WorkerContext, asset: Asset, stream: Readable, fileKey: string | null): Promise<AssetEvent> {
  const { assetId } = run.data;
  // An asset already `processing` when the job began had an earlier run that may have left parts.
  const img = await storeVerifiedStream(ctx, assetId, stream, run.signal, { rerun: asset.status === 'processing' });
  const { key, contentType, size, width, height, sha256 } = img;
  let stored: boolean;
  try {
    stored = await overQuotaFails(() => ctx.assets.markReady(assetId, { key, contentType, size, width, height, sha256 }, fileKey, ownerOf(ctx, asset)));
  } catch (err) {
    // Over its owner's byte quota (nothing recorded), or the database went away: nothing may stay.
    await discardUnrecorded(ctx, assetId, key, run.log);
    throw err;
  }
  // Deleted or failed meanwhile, or another run finished first: this run's object is nobody's.
  if (!stored) return settleLostReady(ctx, assetId, key, run.log);
  run.reportStored(size);
  run.log.info({ size, contentType }, 'rehost stored');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, key) };
}
