/**
 * Every state change of an asset. Transitions are conditional UPDATEs (compare-and-set
 * on `status`), so two workers or two API calls racing on one asset end in one state.
 */
import type { Db } from './client.js';
import { Prisma, type Asset } from './generated/prisma/client.js';
import type { AssetStatus } from './generated/prisma/enums.js';

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
  telegramFileUniqueId?: string | undefined;
  telegramBot?: string | undefined;
  sourceUrl?: string | undefined;
  ownerId?: string | undefined;
  idempotencyKey?: string | undefined;
  dedupeKey?: string | undefined;
  callbackUrl?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface StoredImage {
  key: string;
  contentType: string;
  size: number;
  width: number;
  height: number;
  sha256: string;
}

const LIVE = { deletedAt: null } as const;

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}

export const dedupeKeyForTelegram = (fileUniqueId: string): string => `tg:${fileUniqueId}`;

export class AssetsRepo {
  constructor(private readonly db: Db) {}

  createUpload(a: NewUploadAsset): Promise<Asset> {
    return this.db.asset.create({
      data: {
        id: a.id,
        status: 'pending_upload',
        sourceType: 'upload',
        declaredContentType: a.declaredContentType,
        declaredSize: a.declaredSize,
        stagingKey: a.stagingKey,
        uploadExpiresAt: a.uploadExpiresAt,
        filename: a.filename ?? null,
        ownerId: a.ownerId ?? null,
        metadata: (a.metadata as Prisma.InputJsonValue | undefined) ?? Prisma.JsonNull,
      },
    });
  }

  /**
   * Inserts a rehost asset, or returns the live asset that already holds its
   * idempotency key or dedupe key. The unique indexes decide, so concurrent
   * requests for one file cannot both create an asset.
   */
  async createRehost(a: NewRehostAsset): Promise<{ asset: Asset; created: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.findByClaims(a.idempotencyKey, a.dedupeKey);
      if (existing) return { asset: existing, created: false };
      try {
        const asset = await this.db.asset.create({
          data: {
            id: a.id,
            status: 'queued',
            sourceType: a.sourceType,
            telegramFileId: a.telegramFileId ?? null,
            telegramFileUniqueId: a.telegramFileUniqueId ?? null,
            telegramBot: a.telegramBot ?? null,
            sourceUrl: a.sourceUrl ?? null,
            ownerId: a.ownerId ?? null,
            idempotencyKey: a.idempotencyKey ?? null,
            dedupeKey: a.dedupeKey ?? null,
            callbackUrl: a.callbackUrl ?? null,
            metadata: (a.metadata as Prisma.InputJsonValue | undefined) ?? Prisma.JsonNull,
          },
        });
        return { asset, created: true };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Lost the race: loop and read the winner (it may also have just failed and released its claim).
      }
    }
    throw new Error('could not create or find asset after repeated unique-key races');
  }

  private async findByClaims(idempotencyKey?: string, dedupeKey?: string): Promise<Asset | null> {
    const or: Prisma.AssetWhereInput[] = [];
    if (idempotencyKey) or.push({ idempotencyKey });
    if (dedupeKey) or.push({ dedupeKey });
    if (or.length === 0) return null;
    return this.db.asset.findFirst({ where: { OR: or }, orderBy: { createdAt: 'asc' } });
  }

  get(id: string): Promise<Asset | null> {
    return this.db.asset.findFirst({ where: { id, ...LIVE } });
  }

  /** Moves `from` → `to` only if the asset is still in one of `from`; returns whether it did. */
  async transition(id: string, from: AssetStatus[], to: AssetStatus, data: Prisma.AssetUpdateManyMutationInput = {}): Promise<boolean> {
    const { count } = await this.db.asset.updateMany({ where: { id, status: { in: from }, ...LIVE }, data: { ...data, status: to } });
    return count === 1;
  }

  markReady(id: string, img: StoredImage): Promise<boolean> {
    return this.transition(id, ['queued', 'processing'], 'ready', {
      ...img,
      readyAt: new Date(),
      errorCode: null,
      errorMessage: null,
    });
  }

  /** Failing releases the dedupe claim so a later request for the same file can try again. */
  markFailed(id: string, code: string, message: string): Promise<boolean> {
    return this.transition(id, ['pending_upload', 'queued', 'processing'], 'failed', {
      errorCode: code,
      errorMessage: message.slice(0, 1000),
      dedupeKey: null,
    });
  }

  /**
   * Claims a dedupe key learned late (e.g. Telegram's file_unique_id from getFile).
   * Returns the id of the asset that holds it afterwards: ours, or the earlier one.
   */
  async claimDedupeKey(id: string, dedupeKey: string, fileUniqueId?: string): Promise<string> {
    try {
      await this.db.asset.update({ where: { id }, data: { dedupeKey, telegramFileUniqueId: fileUniqueId ?? undefined } });
      return id;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const holder = await this.db.asset.findUnique({ where: { dedupeKey }, select: { id: true } });
      // The holder may have released the claim in between; try once more.
      if (!holder) return this.claimDedupeKey(id, dedupeKey, fileUniqueId);
      return holder.id;
    }
  }

  /**
   * Soft-deletes; returns the asset and whether its object may be deleted (no other
   * live asset shares the key).
   */
  async softDelete(id: string): Promise<{ asset: Asset; deleteObject: boolean } | null> {
    return this.db.$transaction(async (tx) => {
      const rows = await tx.asset.updateManyAndReturn({
        where: { id, ...LIVE },
        data: { deletedAt: new Date(), dedupeKey: null },
      });
      const asset = rows[0];
      if (!asset) return null;
      const sharing = asset.key ? await tx.asset.count({ where: { key: asset.key, id: { not: id }, ...LIVE } }) : 0;
      return { asset, deleteObject: sharing === 0 };
    });
  }
}
