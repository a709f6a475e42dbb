/**
 * The sweeper's queries and its one transition (`expire`). Kept apart from AssetsRepo: these
 * scan many rows in bounded batches and never run on a request path.
 */
import type { Db } from './client.js';
import type { Asset } from './generated/prisma/client.js';

const LIVE = { deletedAt: null } as const;

export interface ExpirableUpload {
  id: string;
  stagingKey: string | null;
}

/** What the sweeper needs to know about the asset a staging object belongs to. */
export interface StagingOwner {
  id: string;
  status: Asset['status'];
  /** Soft-deleted (DELETE /v1/assets/:id): its staging object may go whatever the status. */
  deleted: boolean;
}

export type StuckAsset = Pick<
  Asset,
  'id' | 'status' | 'sourceType' | 'telegramFileId' | 'telegramFileUniqueId' | 'telegramBot' | 'sourceUrl' | 'updatedAt'
>;

export class MaintenanceRepo {
  constructor(private readonly db: Db) {}

  /** Live uploads still `pending_upload` whose URL expired before `before` (oldest first). */
  expirableUploads(before: Date, limit: number): Promise<ExpirableUpload[]> {
    return this.db.asset.findMany({
      where: { status: 'pending_upload', uploadExpiresAt: { lt: before }, ...LIVE },
      select: { id: true, stagingKey: true },
      orderBy: { uploadExpiresAt: 'asc' },
      take: limit,
    });
  }

  /**
   * `pending_upload` → `expired`, only if still pending (a `complete` racing with the sweep wins
   * or loses as a whole). Returns whether it moved.
   */
  async expire(id: string, reason: { code: string; message: string }): Promise<boolean> {
    const { count } = await this.db.asset.updateMany({
      where: { id, status: 'pending_upload', ...LIVE },
      data: { status: 'expired', errorCode: reason.code, errorMessage: reason.message, dedupeKey: null },
    });
    return count === 1;
  }

  /** Expired assets whose staging object may still exist (its delete failed or has not run yet). */
  expiredWithStagingKey(limit: number): Promise<ExpirableUpload[]> {
    return this.db.asset.findMany({
      where: { status: 'expired', stagingKey: { not: null } },
      select: { id: true, stagingKey: true },
      take: limit,
    });
  }

  /** The staging object is gone: forget its key, so the sweep does not look at it again. */
  async forgetStagingKey(id: string): Promise<void> {
    await this.db.asset.updateMany({ where: { id, status: 'expired' }, data: { stagingKey: null } });
  }

  /** Live assets `queued`/`processing` not updated since `before` (oldest first). */
  stuckAssets(before: Date, limit: number): Promise<StuckAsset[]> {
    return this.db.asset.findMany({
      where: { status: { in: ['queued', 'processing'] }, updatedAt: { lt: before }, ...LIVE },
      select: {
        id: true,
        status: true,
        sourceType: true,
        telegramFileId: true,
        telegramFileUniqueId: true,
        telegramBot: true,
        sourceUrl: true,
        updatedAt: true,
      },
      orderBy: { updatedAt: 'asc' },
      take: limit,
    });
  }

  /** Of `keys`, those some live asset refers to. */
  async liveKeysAmong(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db.asset.findMany({ where: { key: { in: keys }, ...LIVE }, select: { key: true }, distinct: ['key'] });
    return new Set(rows.map((r) => r.key!));
  }

  /**
   * The asset, deleted ones included, behind each staging object, by key. `assetId` is the id the key
   * was made from (`staging/<assetId>`): looked up by primary key, so a page of keys costs one index
   * read. A row that names another staging key does not own this one. A key with no owner is absent
   * from the map (unknown: never an asset, or one whose row is gone).
   */
  async stagingOwners(objects: { key: string; assetId: string }[]): Promise<Map<string, StagingOwner>> {
    if (objects.length === 0) return new Map();
    const rows = await this.db.asset.findMany({
      where: { id: { in: [...new Set(objects.map((o) => o.assetId))] } },
      select: { id: true, stagingKey: true, status: true, deletedAt: true },
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const owners = new Map<string, StagingOwner>();
    for (const { key, assetId } of objects) {
      const r = byId.get(assetId);
      // stagingKey is forgotten (null) once an expired upload's object was deleted: still its owner.
      if (!r || (r.stagingKey !== null && r.stagingKey !== key)) continue;
      owners.set(key, { id: r.id, status: r.status, deleted: r.deletedAt !== null });
    }
    return owners;
  }

  /** Live ready assets with an id after `afterId`, in id order (a resumable scan). */
  readyAssetsAfter(afterId: string | undefined, limit: number): Promise<{ id: string; key: string | null }[]> {
    return this.db.asset.findMany({
      where: { status: 'ready', ...LIVE, ...(afterId ? { id: { gt: afterId } } : {}) },
      select: { id: true, key: true },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }
}
