import type { AssetEvent } from './asset.js';

/** What removing an asset needs, given by its caller (the API's DELETE, the erasure job). */
export interface AssetRemoval {
  /** Soft-deletes; says whether the asset's object may go (no other live asset shares it). */
  softDelete(id: string): Promise<{ asset: { stagingKey: string | null; key: string | null }; deleteObject: boolean } | null>;
  deleteObject(key: string): Promise<void>;
  publish(event: AssetEvent): Promise<unknown>;
  warn(err: unknown, message: string): void;
}

/**
 * DELETE's semantics in one place: the asset is gone from the API at once; its staging object,
 * and its stored object when no other live asset shares it, are deleted (a failure there is
 * logged and left to the sweeper, never a failed delete); a `deleted` event wakes `/wait`s.
 * Returns false when there was no live asset.
 */
export async function removeAsset(r: AssetRemoval, assetId: string): Promise<boolean> {
  const result = await r.softDelete(assetId);
  if (!result) return false;
  const { asset, deleteObject } = result;
  const keys = [asset.stagingKey, deleteObject ? asset.key : null].filter((k): k is string => Boolean(k));
  await Promise.all(keys.map((k) => r.deleteObject(k).catch((err) => r.warn(err, 'object delete failed'))));
  await r.publish({ assetId, status: 'deleted' }).catch((err) => r.warn(err, 'deleted event not published'));
  return true;
}
