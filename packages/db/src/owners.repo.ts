/**
 * What an owner holds: listings (keyset pages, newest first), usage (a counter row the
 * `Asset_owner_usage` trigger keeps exact), and erasures of everything an owner stored.
 */
import type { Asset } from './generated/prisma/client.js';
import type { AssetStatus, SourceType } from './generated/prisma/enums.js';
import { inTransaction, type SqlPool, toSqlTimestamp } from './sql.js';

export interface ListFilter {
  ownerId?: string | undefined;
  status?: AssetStatus | undefined;
  sourceType?: SourceType | undefined;
}

/** Where a page ends: the last row's (createdAt, id); the next page starts strictly after it. */
export interface PagePosition {
  createdAt: Date;
  id: string;
}

export interface OwnerUsage {
  ownerId: string;
  assets: number;
  bytes: number;
  pending: number;
}

export interface ErasureRecord {
  id: string;
  ownerId: string | null;
  status: 'running' | 'done';
  cutoff: Date;
  total: number;
  deleted: number;
  startedAt: Date;
  finishedAt: Date | null;
}

export class OwnersRepo {
  constructor(private readonly pool: SqlPool) {}

  /**
   * One page of live assets, newest first, after `after` (exclusive). Filters are bound
   * parameters; a NULL filter matches all, so one prepared statement serves every combination.
   */
  async listAssets(filter: ListFilter, limit: number, after?: PagePosition): Promise<Asset[]> {
    const res = await this.pool.query({
      name: 'owner_list_assets',
      text: `SELECT * FROM "Asset"
        WHERE "deletedAt" IS NULL
          AND ($1::text IS NULL OR "ownerId" = $1)
          AND ($2::"AssetStatus" IS NULL OR status = $2::"AssetStatus")
          AND ($3::"SourceType" IS NULL OR "sourceType" = $3::"SourceType")
          AND ($4::timestamp IS NULL OR ("createdAt", id) < ($4::timestamp, $5::uuid))
        ORDER BY "createdAt" DESC, id DESC
        LIMIT $6`,
      values: [filter.ownerId ?? null, filter.status ?? null, filter.sourceType ?? null, after ? toSqlTimestamp(after.createdAt) : null, after?.id ?? null, limit],
    });
    return res.rows as Asset[];
  }

  async usage(ownerId: string): Promise<OwnerUsage> {
    const res = await this.pool.query({
      name: 'owner_usage',
      text: `SELECT assets, bytes, pending FROM "OwnerUsage" WHERE "ownerId" = $1`,
      values: [ownerId],
    });
    const row = res.rows[0] as { assets: number; bytes: string; pending: string } | undefined;
    return { ownerId, assets: row?.assets ?? 0, bytes: Number(row?.bytes ?? 0), pending: Number(row?.pending ?? 0) };
  }

  /**
   * The running erasure of an owner, or a new one covering every live asset created until now.
   * One per owner at a time: creations are serialised by an advisory lock on the owner.
   */
  async startErasure(id: string, ownerId: string): Promise<{ erasure: ErasureRecord; created: boolean }> {
    return inTransaction(this.pool, async (c) => {
      await c.query({ name: 'erasure_lock_owner', text: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, values: [`erasure:${ownerId}`] });
      const running = await c.query({
        name: 'erasure_running',
        text: `SELECT * FROM "Erasure" WHERE "ownerId" = $1 AND status = 'running' LIMIT 1`,
        values: [ownerId],
      });
      if (running.rows[0]) return { erasure: running.rows[0] as ErasureRecord, created: false };
      const inserted = await c.query({
        name: 'erasure_insert',
        text: `INSERT INTO "Erasure" (id, "ownerId", status, cutoff, total)
          SELECT $1, $2, 'running', now(), count(*)::int FROM "Asset" WHERE "ownerId" = $2 AND "deletedAt" IS NULL
          RETURNING *`,
        values: [id, ownerId],
      });
      return { erasure: inserted.rows[0] as ErasureRecord, created: true };
    });
  }

  async getErasure(id: string): Promise<ErasureRecord | null> {
    const res = await this.pool.query({ name: 'erasure_get', text: `SELECT * FROM "Erasure" WHERE id = $1`, values: [id] });
    return (res.rows[0] as ErasureRecord | undefined) ?? null;
  }

  /** Live assets of the owner created up to the erasure's cutoff, a page at a time. */
  async erasableAssets(ownerId: string, cutoff: Date, limit: number): Promise<string[]> {
    const res = await this.pool.query({
      name: 'erasure_assets',
      text: `SELECT id FROM "Asset" WHERE "ownerId" = $1 AND "deletedAt" IS NULL AND "createdAt" <= $2::timestamp ORDER BY id LIMIT $3`,
      values: [ownerId, toSqlTimestamp(cutoff), limit],
    });
    return res.rows.map((r: { id: string }) => r.id);
  }

  async countErased(id: string, n: number): Promise<void> {
    await this.pool.query({ name: 'erasure_count', text: `UPDATE "Erasure" SET deleted = deleted + $2 WHERE id = $1`, values: [id, n] });
  }

  /**
   * The owner's assets covered by the erasure that are gone already (deleted since it started:
   * by this erasure, perhaps by a run cut short before it deleted their objects), a page at a time.
   */
  async erasedAssets(e: ErasureRecord, limit: number, afterId?: string): Promise<{ id: string; key: string | null; stagingKey: string | null }[]> {
    const res = await this.pool.query({
      name: 'erasure_erased',
      text: `SELECT id, "key", "stagingKey" FROM "Asset"
        WHERE "ownerId" = $1 AND "createdAt" <= $2::timestamp AND "deletedAt" >= $3::timestamp AND ($4::uuid IS NULL OR id > $4::uuid)
        ORDER BY id LIMIT $5`,
      values: [e.ownerId, toSqlTimestamp(e.cutoff), toSqlTimestamp(e.startedAt), afterId ?? null, limit],
    });
    return res.rows;
  }

  /** Which of `keys` a live asset still refers to. */
  async liveKeys(keys: string[]): Promise<Set<string>> {
    const res = await this.pool.query({
      name: 'owner_live_keys',
      text: `SELECT DISTINCT "key" FROM "Asset" WHERE "key" = ANY($1::text[]) AND "deletedAt" IS NULL`,
      values: [keys],
    });
    return new Set(res.rows.map((r: { key: string }) => r.key));
  }

  /**
   * Done: `deleted` is counted from the rows (every covered asset gone since the erasure began,
   * whichever run removed it), and the record keeps its counts only (the owner's id goes).
   */
  async finishErasure(id: string): Promise<void> {
    await this.pool.query({
      name: 'erasure_finish',
      text: `UPDATE "Erasure" e SET status = 'done', "finishedAt" = now(), "ownerId" = NULL,
          deleted = (SELECT count(*)::int FROM "Asset" a
            WHERE a."ownerId" = e."ownerId" AND a."createdAt" <= e.cutoff AND a."deletedAt" >= e."startedAt")
        WHERE id = $1 AND status = 'running'`,
      values: [id],
    });
  }
}
