/**
 * The sweeper's queries and its one transition (`expire`), as named prepared statements on plain
 * `pg` (see sql.ts). Kept apart from AssetsRepo: these scan many rows in bounded batches and never
 * run on a request path.
 */
import type { Asset } from './generated/prisma/client.js';
import { type SqlPool, toSqlTimestamp } from './sql.js';

/** Live: not soft-deleted (DELETE /v1/assets/:id). */
const LIVE = `"deletedAt" IS NULL`;

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
  constructor(private readonly pool: SqlPool) {}

  /** Live uploads still `pending_upload` whose URL expired before `before` (oldest first). */
  async expirableUploads(before: Date, limit: number): Promise<ExpirableUpload[]> {
    const res = await this.pool.query<ExpirableUpload>({
      name: 'maintenance_expirable_uploads',
      text: `SELECT id, "stagingKey" FROM "Asset"
        WHERE status = 'pending_upload' AND "uploadExpiresAt" < $1 AND ${LIVE}
        ORDER BY "uploadExpiresAt" ASC
        LIMIT $2`,
      values: [toSqlTimestamp(before), limit],
    });
    return res.rows;
  }

  /**
   * `pending_upload` → `expired`, only if still pending (a `complete` racing with the sweep wins
   * or loses as a whole). Returns whether it moved.
   */
  async expire(id: string, reason: { code: string; message: string }): Promise<boolean> {
    const res = await this.pool.query({
      name: 'maintenance_expire',
      text: `UPDATE "Asset" SET status = 'expired', "errorCode" = $2, "errorMessage" = $3, "dedupeKey" = NULL, "updatedAt" = now()
        WHERE id = $1 AND status = 'pending_upload' AND ${LIVE}`,
      values: [id, reason.code, reason.message],
    });
    return res.rowCount === 1;
  }

  /** Expired assets whose staging object may still exist (its delete failed or has not run yet). */
  async expiredWithStagingKey(limit: number): Promise<ExpirableUpload[]> {
    const res = await this.pool.query<ExpirableUpload>({
      name: 'maintenance_expired_with_staging_key',
      text: `SELECT id, "stagingKey" FROM "Asset" WHERE status = 'expired' AND "stagingKey" IS NOT NULL LIMIT $1`,
      values: [limit],
    });
    return res.rows;
  }

  /** The staging object is gone: forget its key, so the sweep does not look at it again. */
  async forgetStagingKey(id: string): Promise<void> {
    await this.pool.query({
      name: 'maintenance_forget_staging_key',
      text: `UPDATE "Asset" SET "stagingKey" = NULL, "updatedAt" = now() WHERE id = $1 AND status = 'expired'`,
      values: [id],
    });
  }

  /** Live assets `queued`/`processing` not updated since `before` (oldest first). */
  async stuckAssets(before: Date, limit: number): Promise<StuckAsset[]> {
    const res = await this.pool.query<StuckAsset>({
      name: 'maintenance_stuck_assets',
      text: `SELECT id, status, "sourceType", "telegramFileId", "telegramFileUniqueId", "telegramBot", "sourceUrl", "updatedAt"
        FROM "Asset"
        WHERE status IN ('queued', 'processing') AND "updatedAt" < $1 AND ${LIVE}
        ORDER BY "updatedAt" ASC
        LIMIT $2`,
      values: [toSqlTimestamp(before), limit],
    });
    return res.rows;
  }

  /** Of `keys`, those some live asset refers to. */
  async liveKeysAmong(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const res = await this.pool.query<{ key: string }>({
      name: 'maintenance_live_keys_among',
      text: `SELECT DISTINCT "key" FROM "Asset" WHERE "key" = ANY($1::text[]) AND ${LIVE}`,
      values: [keys],
    });
    return new Set(res.rows.map((r) => r.key));
  }

  /**
   * The asset, deleted ones included, behind each staging object, by key. `assetId` is the id the key
   * was made from (`staging/<assetId>`): looked up by primary key, so a page of keys costs one index
   * read. A row that names another staging key does not own this one. A key with no owner is absent
   * from the map (unknown: never an asset, or one whose row is gone).
   */
  async stagingOwners(objects: { key: string; assetId: string }[]): Promise<Map<string, StagingOwner>> {
    if (objects.length === 0) return new Map();
    const res = await this.pool.query<{ id: string; stagingKey: string | null; status: Asset['status']; deleted: boolean }>({
      name: 'maintenance_staging_owners',
      text: `SELECT id, "stagingKey", status, "deletedAt" IS NOT NULL AS deleted FROM "Asset" WHERE id = ANY($1::uuid[])`,
      values: [[...new Set(objects.map((o) => o.assetId))]],
    });
    const byId = new Map(res.rows.map((r) => [r.id, r]));
    const owners = new Map<string, StagingOwner>();
    for (const { key, assetId } of objects) {
      const r = byId.get(assetId);
      // stagingKey is forgotten (null) once an expired upload's object was deleted: still its owner.
      if (!r || (r.stagingKey !== null && r.stagingKey !== key)) continue;
      owners.set(key, { id: r.id, status: r.status, deleted: r.deleted });
    }
    return owners;
  }

  /**
   * Live ready assets with an id after `afterId`, in id order (a resumable scan). Two statements,
   * the first page's and the next ones': each walks the primary key from where the scan stands.
   */
  async readyAssetsAfter(afterId: string | undefined, limit: number): Promise<{ id: string; key: string | null }[]> {
    const res = await this.pool.query<{ id: string; key: string | null }>(
      afterId
        ? {
            name: 'maintenance_ready_assets_after',
            text: `SELECT id, "key" FROM "Asset" WHERE status = 'ready' AND ${LIVE} AND id > $1 ORDER BY id ASC LIMIT $2`,
            values: [afterId, limit],
          }
        : {
            name: 'maintenance_ready_assets_first',
            text: `SELECT id, "key" FROM "Asset" WHERE status = 'ready' AND ${LIVE} ORDER BY id ASC LIMIT $1`,
            values: [limit],
          },
    );
    return res.rows;
  }
}
