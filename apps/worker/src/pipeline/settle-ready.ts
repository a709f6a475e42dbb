import { MaintenanceRepo } from '@rehost/db';
import type { AssetEvent } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { publicUrlFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';

/**
 * After `markReady` lost its compare-and-set: the asset is no longer queued/processing. Either
 * another run of the same job got there first — BullMQ retook the job while this run was stalled,
 * not dead (a long pause, a frozen VM), and both wrote the same deterministic key — or the asset
 * was deleted or failed meanwhile.
 *
 * The object at `key` is deleted only when no live asset refers to it: deleting it blindly would
 * take the winning run's published bytes with it, leaving a ready asset whose URL serves nothing.
 */
export async function settleLostReady(ctx: WorkerContext, assetId: string, key: string, log: Logger): Promise<AssetEvent> {
  const asset = await ctx.assets.get(assetId);
  const referenced = await new MaintenanceRepo(ctx.db).liveKeysAmong([key]);
  if (!referenced.has(key)) await ctx.store.delete(key);
  if (!asset) return { assetId, status: 'failed', error: { code: 'not_found', message: 'asset was deleted' } };
  log.info({ status: asset.status }, 'asset was settled by another run of this job');
  if (asset.status === 'ready' && asset.key) return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, asset.key) };
  return {
    assetId,
    status: asset.status,
    ...(asset.status === 'failed' && asset.errorCode ? { error: { code: asset.errorCode, message: asset.errorMessage ?? '' } } : {}),
  };
}
