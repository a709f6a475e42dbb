import { dedupeKeyForTelegram } from '@rehost/db';
import { catalog, type Redis } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { Queue } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { redisScript } from './redis-script.js';

/**
 * Followers (jobs waiting for another asset storing the same file) re-check on a timer of up to
 * 5 s; the holder wakes them as soon as it settles, so they share its object (or, when it failed,
 * one of them takes over) at once. A follower registers its job id under the file's key before
 * each wait, then marks the holder's row (`markFollowersWaiting`): a holder that becomes ready
 * wakes only when marked, so the jobs nobody waited for — nearly all — make no round trip here.
 * A wake that misses one (it was between re-checks) leaves it to its timer.
 */
const followersKey = (prefix: string, fileKey: string) => `${prefix}:followers:${fileKey}`;

const queues = new WeakMap<Redis, Queue>();

/** The followers registered under KEYS[1], removed as they are read: one command, one round trip. */
const TAKE_FOLLOWERS_LUA = `
local ids = redis.call('SMEMBERS', KEYS[1])
if #ids > 0 then redis.call('DEL', KEYS[1]) end
return ids
`;

const takeFollowers = redisScript<[key: string], string[]>('rehostTakeFollowers', 1, TAKE_FOLLOWERS_LUA);

function rehostQueue(ctx: WorkerContext): Queue {
  let queue = queues.get(ctx.redis);
  if (!queue) {
    queue = new Queue(catalog.rehost.queue, { connection: ctx.redis, prefix: ctx.config.QUEUE_PREFIX });
    queues.set(ctx.redis, queue);
  }
  return queue;
}

/** Notes `jobId` as waiting for `fileKey`'s holder (for at most FOLLOWER_MAX_WAIT_SECONDS). */
export async function registerFollower(ctx: WorkerContext, fileKey: string, jobId: string): Promise<void> {
  const key = followersKey(ctx.config.QUEUE_PREFIX, fileKey);
  await ctx.redis.multi().sadd(key, jobId).pexpire(key, ctx.config.FOLLOWER_MAX_WAIT_SECONDS * 1000).exec();
}

/** Moves every registered follower of `fileKey` out of its delay now. Never throws: a missed wake only costs its timer. */
export async function wakeFollowers(ctx: WorkerContext, fileKey: string, log: Logger): Promise<void> {
  try {
    const key = followersKey(ctx.config.QUEUE_PREFIX, fileKey);
    const ids = await takeFollowers(ctx.redis, key);
    if (ids.length === 0) return;
    const queue = rehostQueue(ctx);
    // A follower not (or no longer) delayed cannot be promoted: it is re-checking right now anyway.
    await Promise.all(ids.map(async (id) => (await queue.getJob(id))?.promote().catch(() => undefined)));
    log.debug({ followers: ids.length }, 'followers woken');
  } catch (err) {
    log.warn({ err }, 'waking followers failed; they re-check on their timers');
  }
}

/**
 * After a rehost job failed for good: its file's followers take over without waiting for their
 * timers — when one marked the asset (read after the failure released the claim, so a mark made
 * before it is seen, and a later one found no holder and looked again itself).
 */
export async function wakeFollowersOfFailed(assetId: string, ctx: WorkerContext): Promise<void> {
  const asset = await ctx.assets.get(assetId);
  if (asset?.telegramFileUniqueId && asset.followersWaiting) {
    await wakeFollowers(ctx, dedupeKeyForTelegram(asset.telegramFileUniqueId), ctx.log.child({ assetId }));
  }
}
