import type { Readable } from 'node:stream';
import { type ClaimingAsset, dedupeKeyForTelegram, type MarkedReady, OwnerQuotaExceeded, type StoredCopy } from '@rehost/db';
import { AppError, type AssetEvent, errors, TERMINAL_STATUSES } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { safeGetStream } from '@rehost/safe-fetch';
import { publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import { pauseBot } from '../pipeline/bot-pause.js';
import { waitForBotSlot } from '../pipeline/bot-rate-gate.js';
import { registerFollower, wakeFollowers } from '../pipeline/follower-wake.js';
import { discardUnrecorded, resultOf, settleLostReady, sweepEarlierRuns } from '../pipeline/settle-ready.js';
import { storedFacts, storeVerifiedStream } from '../pipeline/store-verified.js';
import { type JobRun, type Processor, WaitAndRecheck } from './types.js';

/**
 * Downloads a platform file and stores it for good. Every request has its own asset; the same
 * Telegram file (file_unique_id, as getFile answers it — never as the caller claims it) is
 * downloaded once: one asset at a time holds the file's in-flight claim, and later ones share
 * the stored object without a second download.
 */
export const rehost: Processor<'rehost'> = async (run, ctx) => {
  const { assetId, source } = run.data;

  if (source.type === 'url') {
    const asset = await ctx.assets.get(assetId);
    run.noteCallback?.(Boolean(asset?.callbackUrl));
    if (!asset || TERMINAL_STATUSES.includes(asset.status)) return resultOf(ctx, assetId, asset);
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
  const prefix = ctx.config.QUEUE_PREFIX;
  /**
   * Every Bot API call of this job: none while the bot is paused, each within the bot's rate. A
   * getFile takes two slots, its own and the download's that follows it at once (one round trip per
   * job); the download takes none of its own. A 429 pauses this bot (every process's jobs of it)
   * for retry_after and delays this job, no attempt used up; other bots and url sources never wait for it.
   */
  const call = async <T>(slots: 0 | 2, fn: () => Promise<T>): Promise<T> => {
    // One round trip: the bot's pause (a 429 elsewhere) and the slots of its rate.
    const paused = slots === 0 ? 0 : await waitForBotSlot(ctx.redis, prefix, source.bot, ctx.config.TELEGRAM_RATE_PER_SECOND, run.signal, slots);
    if (paused > 0) throw new WaitAndRecheck(paused + jitterMs(), {});
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'rate_limited') throw err;
      const ms = await pauseBot(ctx.redis, prefix, source.bot, (err.retryAfterSeconds ?? 1) * 1000);
      run.log.info({ bot: source.bot, retryAfterSeconds: err.retryAfterSeconds }, 'bot rate-limited by Telegram; its jobs wait');
      throw new WaitAndRecheck(ms + jitterMs(), {});
    }
  };
  const resolve = async () => {
    const file = await call(2, () => bot.getFile(source.fileId, run.signal)).catch((err: unknown) => {
      // "temporarily unavailable" is retried by the job a few times, then it is what it says.
      if (err instanceof AppError && err.code === 'telegram_invalid_file' && !err.permanent && run.attemptsMade + 1 >= TEMPORARILY_UNAVAILABLE_RUNS) {
        throw new AppError(err.code, err.message, { permanent: true });
      }
      throw err;
    });
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

  // One statement: the in-flight claim, a stored copy of the file to share if there is one, and the
  // asset itself (read here rather than before getFile: one statement less per job; an asset
  // deleted before its job ran costs that job one getFile).
  const claim = await ctx.assets.claimFile(assetId, fileKey, fileUniqueId);
  run.noteCallback?.(Boolean(claim.self?.callbackUrl));
  if (claim.outcome === 'gone' || !claim.self) return resultOf(ctx, assetId, await ctx.assets.get(assetId));
  const asset = { id: assetId, ...claim.self };
  const shared = claim.stored ? await shareStored(ctx, asset, claim.stored, fileKey, run.log) : null;
  if (shared) return shared;
  if (claim.outcome === 'held') return waitForHolder(run, ctx, fileUniqueId, fileKey);

  file ??= await resolve();
  // Known before a byte moves (a local Bot API server hands out files far past 20 MB).
  if (file.fileSize !== undefined && file.fileSize > ctx.config.MAX_UPLOAD_BYTES) {
    throw errors.tooLarge(file.fileSize, ctx.config.MAX_UPLOAD_BYTES);
  }
  const known = file;
  const { stream } = await call(0, () => bot.openFile(source.fileId, run.signal, known));
  return storeAndSettle(run, ctx, asset, stream, fileKey);
};

/** What the job needs of its own asset: its id, and what the claim (or the read of a url job) gave. */
type JobAsset = ClaimingAsset & { id: string };

/** Runs of a job that Telegram answers "wrong file_id or the file is temporarily unavailable" before it fails for good. */
const TEMPORARILY_UNAVAILABLE_RUNS = 3;

/** Spreads a bot's delayed jobs a little, so they do not all call again at the same instant. */
const jitterMs = () => Math.floor(Math.random() * 250);

/**
 * Another live asset is storing this file right now: check again when it settles (it wakes the
 * followers that marked it, pipeline/follower-wake.ts) or after a growing delay (0.25 s, doubling to 5 s), without
 * using up an attempt or calling getFile again, until it is stored,
 * or gone (then this asset takes the claim), or FOLLOWER_MAX_WAIT_SECONDS have passed (then
 * the wait is retried like any failure).
 */
async function waitForHolder(run: JobRun<'rehost'>, ctx: WorkerContext, fileUniqueId: string, fileKey: string): Promise<never> {
  const since = run.data.waiting?.since ?? Date.now();
  const count = (run.data.waiting?.count ?? 0) + 1;
  if (Date.now() - since > ctx.config.FOLLOWER_MAX_WAIT_SECONDS * 1000) {
    throw new AppError('conflict', 'the same file has been being stored by another asset for too long');
  }
  // The holder wakes this job as soon as it settles; the timer is the fallback. Registered first,
  // then the holder marked (it asks Redis for its followers only when marked); no holder left to
  // mark means it let go meanwhile: look again at once.
  await registerFollower(ctx, fileKey, run.id);
  const held = await ctx.assets.markFollowersWaiting(fileKey);
  throw new WaitAndRecheck(held ? Math.min(250 * 2 ** (count - 1), 5000) : 0, { waiting: { fileUniqueId, since, count } });
}

/** Ready on the object of a live asset that holds the same file, if there is one. */
async function shareStored(ctx: WorkerContext, asset: JobAsset, holder: StoredCopy, fileKey: string, log: Logger): Promise<AssetEvent | null> {
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
    sourceSha256: holder.sourceSha256,
    orientation: holder.orientation,
    metadataRemoved: holder.metadataRemoved,
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

const ownerOf = (ctx: WorkerContext, asset: JobAsset) => ({
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

async function storeAndSettle(run: JobRun<'rehost'>, ctx: WorkerContext, asset: JobAsset, stream: Readable, fileKey: string | null): Promise<AssetEvent> {
  const { assetId } = run.data;
  // An asset already `processing` when the job began had an earlier run that may have left parts.
  const rerun = asset.status === 'processing';
  const img = await storeVerifiedStream(ctx, assetId, stream, run.signal, { rerun });
  const { key, contentType, size } = img;
  let stored: MarkedReady | null;
  try {
    stored = await overQuotaFails(() => ctx.assets.markReady(assetId, storedFacts(img), fileKey, ownerOf(ctx, asset)));
  } catch (err) {
    // Over its owner's byte quota (nothing recorded), or the database went away: nothing may stay.
    await discardUnrecorded(ctx, assetId, key, run.log);
    throw err;
  }
  // Deleted or failed meanwhile, or another run finished first: this run's object is nobody's.
  if (!stored) return settleLostReady(ctx, assetId, key, run.log);
  if (rerun) await sweepEarlierRuns(ctx, assetId, key, run.log);
  // Only when a follower marked this asset: no Redis round trip for the many files nobody else asked for.
  if (fileKey && stored.followersWaiting) await wakeFollowers(ctx, fileKey, run.log);
  run.reportStored(size);
  ctx.onMetadataRemoved?.(img.metadataRemoved);
  run.log.info({ size, contentType }, 'rehost stored');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, key) };
}
