/**
 * Every state change of an asset, as named prepared statements on plain `pg` (see sql.ts).
 *
 * The invariants that span rows are the database's to keep, never timing's:
 * - transitions are compare-and-set UPDATEs on `status` and `deletedAt IS NULL`, so two runs or
 *   a run and a DELETE end in one state;
 * - a stored object may be shared by many assets; sharing it and deciding whether the last
 *   sharer is gone are serialised per key by a transaction-scoped advisory lock (`lockKey`);
 * - the in-flight claim on a Telegram file (`dedupeKey`) is unique and, by a CHECK constraint,
 *   held only by live queued/processing rows;
 * - an idempotency key is unique over all rows, deleted ones included.
 */
import type { Asset } from './generated/prisma/client.js';
import type { AssetStatus } from './generated/prisma/enums.js';
import { inTransaction, isPgUniqueViolation, type SqlClient, type SqlPool, toSqlTimestamp } from './sql.js';

export type { Asset };

export interface NewUploadAsset {
  id: string;
  declaredContentType: string;
  declaredSize: number;
  stagingKey: string;
  uploadExpiresAt: Date;
  filename?: string | undefined;
  ownerId?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface NewRehostAsset {
  id: string;
  sourceType: 'telegram' | 'url';
  telegramFileId?: string | undefined;
  /** As the caller claims it; checked against getFile's answer before it is trusted. */
  telegramFileUniqueId?: string | undefined;
  telegramBot?: string | undefined;
  sourceUrl?: string | undefined;
  ownerId?: string | undefined;
  /** Already scoped to the caller's token (see the API's idempotency module). */
  idempotencyKey?: string | undefined;
  /** Fingerprint of the request body that goes with `idempotencyKey`. */
  requestHash?: string | undefined;
  callbackUrl?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface StoredImage {
  key: string;
  contentType: string;
  /** Of the stored bytes. */
  size: number;
  /** As displayed (EXIF orientation applied). */
  width: number;
  height: number;
  /** Of the stored bytes. */
  sha256: string;
  /** Of the bytes as received (differs from sha256 when metadata was removed). */
  sourceSha256: string | null;
  orientation: number | null;
  /** Kinds of metadata left out, never their values. */
  metadataRemoved: string[];
}

/** What a ready asset shares with a newcomer: its object and what was verified about it. */
export type SharedObject = StoredImage & { fileKey: string | null; telegramFileUniqueId: string | null };

/** Per-owner limits (OWNER_MAX_ASSETS, OWNER_MAX_BYTES); unset = unlimited. */
export interface OwnerQuota {
  maxAssets?: number | undefined;
  maxBytes?: number | undefined;
}

/** The owner is at its limit: nothing was written. */
export class OwnerQuotaExceeded extends Error {
  constructor(
    readonly ownerId: string,
    readonly limit: 'assets' | 'bytes',
  ) {
    super(limit === 'assets' ? 'the owner has as many assets as its quota allows' : 'the owner has stored as many bytes as its quota allows');
    this.name = 'OwnerQuotaExceeded';
  }
}

const quotaApplies = (ownerId: string | null | undefined, quota: OwnerQuota | undefined): ownerId is string =>
  Boolean(ownerId) && (quota?.maxAssets !== undefined || quota?.maxBytes !== undefined);

/**
 * Locks the owner's usage row (creating it) and checks that `add` fits; the caller writes in
 * the same transaction, and the usage trigger counts it before the lock is let go — so of 20
 * concurrent requests for the last free slot exactly one fits. `add.bytes` 0 (size not known
 * yet) fits only while the owner is below its byte limit.
 */
async function reserveOwnerRoom(c: SqlClient, ownerId: string, quota: OwnerQuota, add: { assets: number; bytes: number }): Promise<void> {
  const usage = await one<{ assets: number; bytes: string; pending: string }>(
    c,
    'owner_usage_lock',
    `INSERT INTO "OwnerUsage" AS u ("ownerId") VALUES ($1) ON CONFLICT ("ownerId") DO UPDATE SET "ownerId" = u."ownerId"
     RETURNING assets, bytes, pending`,
    [ownerId],
  );
  const used = Number(usage!.bytes) + Number(usage!.pending);
  if (quota.maxAssets !== undefined && usage!.assets + add.assets > quota.maxAssets) throw new OwnerQuotaExceeded(ownerId, 'assets');
  if (quota.maxBytes !== undefined && (used + add.bytes > quota.maxBytes || (add.bytes === 0 && used >= quota.maxBytes))) {
    throw new OwnerQuotaExceeded(ownerId, 'bytes');
  }
}

export const dedupeKeyForTelegram = (fileUniqueId: string): string => `tg:${fileUniqueId}`;

/**
 * What sharing a stored copy needs of the asset that holds it (`claimFile`, `findStoredFile`):
 * the claim runs once per rehost job, and the pg client's cost grows with every column it
 * describes and parses (41 for `*`).
 */
const STORED_COPY_KEYS = [
  'id',
  'key',
  'contentType',
  'size',
  'width',
  'height',
  'sha256',
  'sourceSha256',
  'orientation',
  'metadataRemoved',
  'telegramFileUniqueId',
] as const satisfies readonly (keyof Asset)[];
export type StoredCopy = Pick<Asset, (typeof STORED_COPY_KEYS)[number]>;

/** The SQL select list of `keys` (quoted column names). */
const columnList = (keys: readonly (keyof Asset)[]): string => keys.map((k) => `"${k}"`).join(', ');

/** A live ready asset holding the file `fileKey` (an SQL expression): its StoredCopy columns. */
const storedFile = (fileKey: string): string =>
  `SELECT ${columnList(STORED_COPY_KEYS)} FROM "Asset" WHERE "fileKey" = ${fileKey} AND status = 'ready' AND "deletedAt" IS NULL AND "key" IS NOT NULL LIMIT 1`;

/** What `markReady` says of a write that took: whether a follower marked the asset (`markFollowersWaiting`). */
export interface MarkedReady {
  followersWaiting: boolean;
}

/** What a rehost needs of its own asset, read with its claim (`claimFile`). */
export interface ClaimingAsset {
  status: AssetStatus;
  callbackUrl: string | null;
  ownerId: string | null;
}

const IN_FLIGHT = `status IN ('queued', 'processing')`;

const INSERT_COLUMNS = [
  'id',
  'status',
  'sourceType',
  'telegramFileId',
  'telegramFileUniqueId',
  'telegramBot',
  'sourceUrl',
  'ownerId',
  'idempotencyKey',
  'requestHash',
  'callbackUrl',
  'metadata',
  'key',
  'contentType',
  'size',
  'width',
  'height',
  'sha256',
  'sourceSha256',
  'orientation',
  'metadataRemoved',
  'fileKey',
  'filename',
  'declaredContentType',
  'declaredSize',
  'stagingKey',
  'uploadExpiresAt',
] as const;
type InsertRow = { [K in (typeof INSERT_COLUMNS)[number]]?: unknown };

const INSERT_TARGET = `"Asset" (${INSERT_COLUMNS.map((c) => `"${c}"`).join(', ')}, "readyAt", "updatedAt")`;
const INSERT_PARAMS = `${INSERT_COLUMNS.map((c, i) => (c === 'metadata' ? `$${i + 1}::jsonb` : c === 'status' ? `$${i + 1}::"AssetStatus"` : c === 'sourceType' ? `$${i + 1}::"SourceType"` : `$${i + 1}`)).join(', ')},
    CASE WHEN $2 = 'ready' THEN now() END, now()`;
const param = (column: (typeof INSERT_COLUMNS)[number]): string => `$${INSERT_COLUMNS.indexOf(column) + 1}`;

/** One INSERT for every kind of new asset; a taken idempotency key inserts nothing (no error). */
const INSERT_ASSET = `INSERT INTO ${INSERT_TARGET} VALUES (${INSERT_PARAMS})
  ON CONFLICT ("idempotencyKey") DO NOTHING
  RETURNING *`;

/** What the API needs of a rehost it has just inserted: the 202's id and status, and the job's source. */
const INSERTED_REHOST_KEYS = ['id', 'status', 'sourceType', 'telegramFileId', 'telegramFileUniqueId', 'telegramBot', 'sourceUrl'] as const satisfies readonly (keyof Asset)[];
export type InsertedRehost = Pick<Asset, (typeof INSERTED_REHOST_KEYS)[number]>;
const INSERTED_REHOST_COLUMNS = columnList(INSERTED_REHOST_KEYS);

/** A live ready asset stored from file id `fileId` of bot `bot` (both SQL expressions). */
const storedTelegramFile = (fileId: string, bot: string): string =>
  `SELECT * FROM "Asset" WHERE "telegramFileId" = ${fileId} AND "telegramBot" = ${bot} AND status = 'ready'
     AND "deletedAt" IS NULL AND "fileKey" IS NOT NULL AND "key" IS NOT NULL LIMIT 1`;

/**
 * INSERT_ASSET unless the row's Telegram file is stored already, in one statement: the inserted
 * row (`inserted` true), or the stored asset (false, nothing inserted), or no row (a taken
 * idempotency key). Both parts read one snapshot, so the answer is one or the other, never both.
 * Only the columns of an InsertedRehost come back: the statement runs once per accepted request,
 * and the pg client's cost grows with every column it describes and parses (41 for `*`).
 */
const INSERT_UNLESS_STORED = `WITH stored AS (${storedTelegramFile(param('telegramFileId'), param('telegramBot'))}),
  inserted AS (
    INSERT INTO ${INSERT_TARGET} SELECT ${INSERT_PARAMS} WHERE NOT EXISTS (SELECT 1 FROM stored)
    ON CONFLICT ("idempotencyKey") DO NOTHING
    RETURNING ${INSERTED_REHOST_COLUMNS}
  )
  SELECT true AS inserted, * FROM inserted UNION ALL SELECT false, ${INSERTED_REHOST_COLUMNS} FROM stored`;

const insertValues = (row: InsertRow): unknown[] =>
  INSERT_COLUMNS.map((c) => {
    const v = row[c];
    if (c === 'metadata') return v === undefined || v === null ? null : JSON.stringify(v);
    if (c === 'metadataRemoved') return v ?? [];
    if (v instanceof Date) return toSqlTimestamp(v);
    return v ?? null;
  });

type Queryable = SqlPool | SqlClient;

async function one<T>(q: Queryable, name: string, text: string, values: unknown[]): Promise<T | null> {
  const res = await q.query({ name, text, values });
  return (res.rows[0] as T | undefined) ?? null;
}

/** Serialises everyone who shares or releases the object at `key`, until the transaction ends. */
async function lockKey(c: SqlClient, key: string): Promise<void> {
  await c.query({ name: 'asset_lock_key', text: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, values: [`object:${key}`] });
}

/** Whether a live asset other than `exceptId` refers to `key`. Run under `lockKey`. */
async function keyIsShared(c: SqlClient, key: string, exceptId: string | null): Promise<boolean> {
  const row = await one<{ n: number }>(
    c,
    'asset_key_shared',
    `SELECT count(*)::int AS n FROM "Asset" WHERE "key" = $1 AND "deletedAt" IS NULL AND ($2::uuid IS NULL OR id <> $2::uuid)`,
    [key, exceptId],
  );
  return (row?.n ?? 0) > 0;
}

/**
 * Interleaving points for deterministic race tests: a test awaits here to decide which of two
 * transactions goes first. Production passes none.
 */
export interface AssetsRepoHooks {
  /** In `softDelete`, after the row is marked deleted and before the key's lock is taken. */
  afterDeleteMarked?: (assetId: string) => Promise<void>;
  /** In `createShared`/`markReadyShared`, after the object was seen held and before the share is written. */
  afterShareChecked?: (key: string) => Promise<void>;
}

export class AssetsRepo {
  constructor(
    private readonly pool: SqlPool,
    private readonly hooks: AssetsRepoHooks = {},
  ) {}

  /** A pending upload; it counts as an asset of its owner and reserves its declared size. */
  async createUpload(a: NewUploadAsset, quota?: OwnerQuota): Promise<Asset> {
    const values = insertValues({ ...a, status: 'pending_upload', sourceType: 'upload' });
    if (!quotaApplies(a.ownerId, quota)) return (await one<Asset>(this.pool, 'asset_insert', INSERT_ASSET, values))!;
    return inTransaction(this.pool, async (c) => {
      await reserveOwnerRoom(c, a.ownerId!, quota!, { assets: 1, bytes: a.declaredSize });
      return (await one<Asset>(c, 'asset_insert', INSERT_ASSET, values))!;
    });
  }

  /**
   * Inserts a queued rehost asset. With an idempotency key that is taken already, inserts
   * nothing and returns the asset that holds it — deleted or not: the caller decides what a
   * retry means (same asset, 409 for another body, 410 when deleted).
   */
  async createRehost(a: NewRehostAsset, quota?: OwnerQuota): Promise<{ asset: Asset; created: boolean }> {
    if (!quotaApplies(a.ownerId, quota)) return this.insertOrFind(this.pool, { ...a, status: 'queued' });
    return inTransaction(this.pool, async (c) => {
      await reserveOwnerRoom(c, a.ownerId!, quota!, { assets: 1, bytes: 0 });
      return this.insertOrFind(c, { ...a, status: 'queued' });
    });
  }

  /**
   * Creates a ready asset sharing `from`'s object — only if a live asset still holds that
   * object when the key's lock is taken (else null: a DELETE removed the last one, store anew).
   */
  async createShared(a: NewRehostAsset, from: SharedObject, quota?: OwnerQuota): Promise<{ asset: Asset; created: boolean } | null> {
    return inTransaction(this.pool, async (c) => {
      await lockKey(c, from.key);
      if (!(await keyIsShared(c, from.key, null))) return null;
      if (quotaApplies(a.ownerId, quota)) await reserveOwnerRoom(c, a.ownerId, quota!, { assets: 1, bytes: from.size });
      await this.hooks.afterShareChecked?.(from.key);
      return this.insertOrFind(c, { ...a, ...from, status: 'ready' });
    });
  }

  /**
   * A queued Telegram rehost, unless a live ready asset stored from the same file id of the same
   * bot exists: then nothing is inserted and that asset comes back as `stored`, for the caller to
   * share (`createShared`) or, when that finds its object gone, to insert after all (`createRehost`).
   * Without a quota to reserve, the look and the insert are one statement: the common case, a
   * file not stored yet, costs one round trip.
   */
  async createTelegramRehost(
    a: NewRehostAsset,
    quota?: OwnerQuota,
  ): Promise<{ stored: Asset } | { asset: InsertedRehost; created: true } | { asset: Asset; created: boolean }> {
    const storedOrInsert = async () => {
      const stored = await this.findStoredTelegramFile(String(a.telegramBot), String(a.telegramFileId));
      return stored ? { stored } : this.createRehost(a, quota);
    };
    if (quotaApplies(a.ownerId, quota)) return storedOrInsert();
    const row = { ...a, status: 'queued' };
    const found = await one<InsertedRehost & { inserted: boolean }>(this.pool, 'asset_insert_unless_stored', INSERT_UNLESS_STORED, insertValues(row));
    if (!found) return { asset: await this.idempotencyHolder(this.pool, row), created: false };
    const { inserted, ...asset } = found;
    if (inserted) return { asset, created: true };
    // Stored already (the same file asked for again, rare beside new ones): the whole row, read
    // again — or, gone since, the insert after all.
    return storedOrInsert();
  }

  private async insertOrFind(q: Queryable, row: InsertRow): Promise<{ asset: Asset; created: boolean }> {
    const inserted = await one<Asset>(q, 'asset_insert', INSERT_ASSET, insertValues(row));
    if (inserted) return { asset: inserted, created: true };
    return { asset: await this.idempotencyHolder(q, row), created: false };
  }

  /** The asset holding the idempotency key an insert found taken. */
  private async idempotencyHolder(q: Queryable, row: InsertRow): Promise<Asset> {
    // ON CONFLICT waited for the holder's commit: it is visible to this next statement.
    const holder = await this.findByIdempotencyKey(String(row.idempotencyKey), q);
    if (!holder) throw new Error('idempotency key conflict without a holder');
    return holder;
  }

  /** The asset that holds an idempotency key, deleted ones included. */
  findByIdempotencyKey(idempotencyKey: string, q: Queryable = this.pool): Promise<Asset | null> {
    return one<Asset>(q, 'asset_by_idempotency_key', `SELECT * FROM "Asset" WHERE "idempotencyKey" = $1`, [idempotencyKey]);
  }

  /**
   * A live ready asset stored from this very file id of this bot (so its bytes are the ones
   * the caller can fetch itself: no caller-supplied identity decides who gets which bytes).
   */
  findStoredTelegramFile(bot: string, fileId: string): Promise<Asset | null> {
    return one<Asset>(this.pool, 'asset_stored_tg_file', storedTelegramFile('$1', '$2'), [fileId, bot]);
  }

  /** A live ready asset holding the file `fileKey` (verified by getFile when it was stored). */
  findStoredFile(fileKey: string): Promise<StoredCopy | null> {
    return one<StoredCopy>(
      this.pool,
      'asset_stored_file',
      storedFile('$1'),
      [fileKey],
    );
  }

  get(id: string): Promise<Asset | null> {
    return one<Asset>(this.pool, 'asset_get', `SELECT * FROM "Asset" WHERE id = $1 AND "deletedAt" IS NULL`, [id]);
  }

  /** Moves `from` → `to` (a non-terminal status) only if the asset is live and in one of `from`. */
  async transition(id: string, from: AssetStatus[], to: 'processing'): Promise<boolean> {
    const row = await one<{ id: string }>(
      this.pool,
      'asset_transition',
      `UPDATE "Asset" SET status = $3::"AssetStatus", "updatedAt" = now()
       WHERE id = $1 AND status = ANY($2::"AssetStatus"[]) AND "deletedAt" IS NULL RETURNING id`,
      [id, from, to],
    );
    return row !== null;
  }

  /**
   * Takes the in-flight claim on a file (and moves the asset to processing), and finds a live
   * ready asset that holds the file already — one round trip on the common path. `held` means a
   * live asset is storing it right now; `gone` means this asset is no longer live and in flight.
   *
   * Claim first, then look: whoever released the claim before us had settled by then, so its
   * stored copy is seen and shared rather than downloaded again. (The lookup runs in the claim's
   * snapshot, which cannot see a holder that let go while the claim waited on it; the same
   * snapshot shows that holder still holding, and then a second, fresh look finds what it stored.)
   * `self` is what the job needs of the asset itself, as it was before the claim (null when deleted),
   * so that a rehost reads its asset in this statement rather than in one of its own.
   */
  async claimFile(
    id: string,
    fileKey: string,
    fileUniqueId: string,
  ): Promise<{ outcome: 'claimed' | 'held' | 'gone'; stored: StoredCopy | null; self: ClaimingAsset | null }> {
    try {
      const row = await one<
        StoredCopy & { claimedId: string | null; heldBefore: boolean; selfStatus: AssetStatus | null; selfCallbackUrl: string | null; selfOwnerId: string | null }
      >(
        this.pool,
        'asset_claim_file',
        `WITH claimed AS (
           UPDATE "Asset" SET "dedupeKey" = $2, "telegramFileUniqueId" = $3, status = 'processing', "updatedAt" = now()
           WHERE id = $1 AND ${IN_FLIGHT} AND "deletedAt" IS NULL RETURNING id
         ), self AS (
           SELECT status, "callbackUrl", "ownerId" FROM "Asset" WHERE id = $1 AND "deletedAt" IS NULL
         )
         SELECT (SELECT id FROM claimed) AS "claimedId",
           EXISTS (SELECT 1 FROM "Asset" WHERE "dedupeKey" = $2 AND id <> $1) AS "heldBefore",
           (SELECT status FROM self) AS "selfStatus", (SELECT "callbackUrl" FROM self) AS "selfCallbackUrl",
           (SELECT "ownerId" FROM self) AS "selfOwnerId", s.*
         FROM (SELECT 1) AS one
         LEFT JOIN LATERAL (
           ${storedFile('$2')}
         ) AS s ON true`,
        [id, fileKey, fileUniqueId],
      );
      const { claimedId, heldBefore, selfStatus, selfCallbackUrl, selfOwnerId, ...stored } = row!;
      const self = selfStatus === null ? null : { status: selfStatus, callbackUrl: selfCallbackUrl, ownerId: selfOwnerId };
      if (stored.id) return { outcome: claimedId ? 'claimed' : 'gone', stored, self };
      // Claimed although another asset held the file when the statement began: it let go meanwhile.
      const storedSince = claimedId && heldBefore ? await this.findStoredFile(fileKey) : null;
      return { outcome: claimedId ? 'claimed' : 'gone', stored: storedSince, self };
    } catch (err) {
      if (!isPgUniqueViolation(err, 'Asset_dedupeKey_key')) throw err;
      // Another asset holds the file (rare: the same file asked for again while it downloads).
      const [stored, asset] = await Promise.all([this.findStoredFile(fileKey), this.get(id)]);
      const self = asset ? { status: asset.status, callbackUrl: asset.callbackUrl, ownerId: asset.ownerId } : null;
      return { outcome: 'held', stored, self };
    }
  }

  /**
   * Ready on an object this run wrote itself (a fresh key nobody else refers to yet). With an
   * owner and a byte quota, only if the stored size still fits (else OwnerQuotaExceeded, nothing
   * written: the caller deletes its object).
   */
  async markReady(
    id: string,
    img: StoredImage,
    fileKey: string | null = null,
    owner?: { ownerId: string | null; quota?: OwnerQuota },
  ): Promise<MarkedReady | null> {
    if (owner && quotaApplies(owner.ownerId, owner.quota) && owner.quota!.maxBytes !== undefined) {
      return inTransaction(this.pool, async (c) => {
        await reserveOwnerRoom(c, owner.ownerId!, { maxBytes: owner.quota!.maxBytes }, { assets: 0, bytes: img.size });
        return this.writeReady(c, id, img, fileKey);
      });
    }
    return this.writeReady(this.pool, id, img, fileKey);
  }

  /** Null when the asset is no longer in flight (deleted, failed, or another run was first). */
  private async writeReady(q: Queryable, id: string, img: StoredImage, fileKey: string | null): Promise<MarkedReady | null> {
    return one<MarkedReady>(
      q,
      'asset_mark_ready',
      `UPDATE "Asset" SET status = 'ready', "key" = $2, "contentType" = $3, size = $4, width = $5, height = $6, sha256 = $7,
         "fileKey" = $8, "sourceSha256" = $9, orientation = $10, "metadataRemoved" = $11::text[],
         "dedupeKey" = NULL, "errorCode" = NULL, "errorMessage" = NULL, "readyAt" = now(), "updatedAt" = now()
       WHERE id = $1 AND status IN ('pending_upload', 'queued', 'processing') AND "deletedAt" IS NULL RETURNING "followersWaiting"`,
      [id, img.key, img.contentType, img.size, img.width, img.height, img.sha256, fileKey, img.sourceSha256, img.orientation, img.metadataRemoved],
    );
  }

  /**
   * Marks the asset holding `fileKey`'s claim as waited for, so that its `markReady` reports
   * `followersWaiting`. False when no asset holds the claim any more: it let go (ready, failed or
   * deleted) before this statement, and the caller looks again at once. A follower registers in
   * Redis before calling this; the row lock orders this against the holder's `markReady`, so
   * either the holder sees the mark (and the registration before it) or this sees no holder.
   */
  async markFollowersWaiting(fileKey: string): Promise<boolean> {
    const row = await one<{ id: string }>(
      this.pool,
      'asset_mark_followers_waiting',
      `UPDATE "Asset" SET "followersWaiting" = true WHERE "dedupeKey" = $1 RETURNING id`,
      [fileKey],
    );
    return row !== null;
  }

  /**
   * Ready on another asset's object, under that object's lock: only if a live asset still holds
   * it (else `unavailable`: the last holder was deleted, store anew) and this one is still in flight.
   */
  async markReadyShared(id: string, from: SharedObject, owner?: { ownerId: string | null; quota?: OwnerQuota }): Promise<'ready' | 'gone' | 'unavailable'> {
    return inTransaction(this.pool, async (c) => {
      await lockKey(c, from.key);
      if (!(await keyIsShared(c, from.key, id))) return 'unavailable';
      if (owner && quotaApplies(owner.ownerId, owner.quota) && owner.quota!.maxBytes !== undefined) {
        await reserveOwnerRoom(c, owner.ownerId!, { maxBytes: owner.quota!.maxBytes }, { assets: 0, bytes: from.size });
      }
      await this.hooks.afterShareChecked?.(from.key);
      const row = await one<{ id: string }>(
        c,
        'asset_mark_ready_shared',
        `UPDATE "Asset" SET status = 'ready', "key" = $2, "contentType" = $3, size = $4, width = $5, height = $6, sha256 = $7,
           "fileKey" = $8, "telegramFileUniqueId" = COALESCE($9, "telegramFileUniqueId"), "sourceSha256" = $10,
           orientation = $11, "metadataRemoved" = $12::text[], "dedupeKey" = NULL,
           "errorCode" = NULL, "errorMessage" = NULL, "readyAt" = now(), "updatedAt" = now()
         WHERE id = $1 AND ${IN_FLIGHT} AND "deletedAt" IS NULL RETURNING id`,
        [
          id,
          from.key,
          from.contentType,
          from.size,
          from.width,
          from.height,
          from.sha256,
          from.fileKey,
          from.telegramFileUniqueId,
          from.sourceSha256,
          from.orientation,
          from.metadataRemoved,
        ],
      );
      return row ? 'ready' : 'gone';
    });
  }

  /** Failing releases the file claim so a later request for the same file can try again. */
  async markFailed(id: string, code: string, message: string): Promise<boolean> {
    const row = await one<{ id: string }>(
      this.pool,
      'asset_mark_failed',
      `UPDATE "Asset" SET status = 'failed', "errorCode" = $2, "errorMessage" = $3, "dedupeKey" = NULL, "updatedAt" = now()
       WHERE id = $1 AND status IN ('pending_upload', 'queued', 'processing') AND "deletedAt" IS NULL RETURNING id`,
      [id, code, message.slice(0, 1000)],
    );
    return row !== null;
  }

  /**
   * Soft-deletes and releases every claim the asset held; returns it and whether its object
   * may be deleted — decided under the key's lock, so of two sharers deleted at once exactly
   * the last one deletes it, and a share racing the delete either sees the object or none.
   */
  async softDelete(id: string): Promise<{ asset: Asset; deleteObject: boolean } | null> {
    return inTransaction(this.pool, async (c) => {
      const asset = await one<Asset>(
        c,
        'asset_soft_delete',
        `UPDATE "Asset" SET "deletedAt" = now(), "dedupeKey" = NULL, "updatedAt" = now()
         WHERE id = $1 AND "deletedAt" IS NULL RETURNING *`,
        [id],
      );
      if (!asset) return null;
      if (!asset.key) return { asset, deleteObject: false };
      await this.hooks.afterDeleteMarked?.(id);
      await lockKey(c, asset.key);
      return { asset, deleteObject: !(await keyIsShared(c, asset.key, id)) };
    });
  }
}
