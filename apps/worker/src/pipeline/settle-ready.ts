import type { Asset } from '@rehost/db';
import type { AssetEvent } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { publicKeyPrefixFor, publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';

/**
 * The result that tells what the asset is now: a ready one always with its URL; a deleted one
 * as `deleted` (announced by its DELETE already; the runner announces nothing for it).
 */
export function resultOf(ctx: WorkerContext, assetId: string, asset: Asset | null): AssetEvent {
  if (!asset) return { assetId, status: 'deleted' };
  if (asset.status === 'ready' && asset.key) return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, asset.key) };
  return {
    assetId,
    status: asset.status,
    ...(asset.status === 'failed' && asset.errorCode ? { error: { code: asset.errorCode, message: asset.errorMessage ?? '' } } : {}),
  };
}

/**
 * After `markReady` lost its compare-and-set: the asset was deleted or failed meanwhile, or
 * another run of the same job (BullMQ retook it while this run was stalled, not dead) got
 * there first. Keys are per run, so the object this run wrote is referred to by nobody: it is
 * deleted, and the winner's object is untouched.
 */
export async function settleLostReady(ctx: WorkerContext, assetId: string, key: string, log: Logger): Promise<AssetEvent> {
  await ctx.store.delete(key);
  const asset = await ctx.assets.get(assetId);
  log.info({ status: asset?.status ?? 'deleted' }, 'asset was settled elsewhere; this run deleted its own object');
  return resultOf(ctx, assetId, asset);
}

/**
 * `markReady` threw (the database went away): whether the row now names `key` is unknown — the
 * UPDATE may have committed before the connection died. The object is deleted only when a read
 * shows the asset does not refer to it; otherwise it stays for the orphan report.
 */
export async function discardUnrecorded(ctx: WorkerContext, assetId: string, key: string, log: Logger): Promise<void> {
  try {
    const asset = await ctx.assets.get(assetId);
    if (asset?.key !== key) await ctx.store.delete(key);
  } catch (err) {
    log.warn({ err, key }, 'could not tell whether the stored object was recorded; left for the orphan report');
  }
}

/**
 * After a re-run recorded `key`: objects that earlier runs of the same asset wrote under its
 * prefix and never recorded (a run killed, or cut off from the database, after its upload) are
 * nobody's, and are deleted. Safe once the asset is ready on `key`: no other run of it can record
 * another key any more, and other assets only ever share a recorded key.
 */
export async function sweepEarlierRuns(ctx: WorkerContext, assetId: string, key: string, log: Logger): Promise<void> {
  try {
    const stray = (await ctx.store.listKeys(publicKeyPrefixFor(assetId))).filter((k) => k !== key);
    await Promise.all(stray.map((k) => ctx.store.delete(k)));
    if (stray.length > 0) log.info({ deleted: stray.length }, 'objects of earlier runs deleted');
  } catch (err) {
    log.warn({ err }, 'objects of earlier runs not swept; left for the orphan report');
  }
}
