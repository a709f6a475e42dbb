import type { AssetStatus, AssetView } from './asset.js';

/**
 * The columns of an asset row that its public view is made of (structurally the database
 * row, so this module needs no Prisma). Shared by the API (GET /v1/assets/:id) and the
 * worker (webhook bodies), so both say the same thing about an asset.
 */
export interface AssetRow {
  id: string;
  status: AssetStatus;
  sourceType: 'upload' | 'telegram' | 'url';
  telegramFileId: string | null;
  telegramFileUniqueId: string | null;
  telegramBot: string | null;
  sourceUrl: string | null;
  filename: string | null;
  declaredContentType: string | null;
  declaredSize: number | null;
  key: string | null;
  contentType: string | null;
  size: number | null;
  width: number | null;
  height: number | null;
  sha256: string | null;
  sourceSha256: string | null;
  orientation: number | null;
  metadataRemoved: string[] | null;
  ownerId: string | null;
  /** Image facts (null until analysed; optional so rows read before the migration still fit). */
  placeholder?: string | null;
  dominantColor?: string | null;
  phash?: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** `urlFor` turns a stored key into its permanent URL (storage's `publicUrlFor` with the configured origin). */
export function assetViewOf(a: AssetRow, urlFor: (key: string) => string): AssetView {
  const source: AssetView['source'] =
    a.sourceType === 'telegram'
      ? { type: 'telegram', fileId: a.telegramFileId, fileUniqueId: a.telegramFileUniqueId, bot: a.telegramBot }
      : a.sourceType === 'url'
        ? { type: 'url', url: a.sourceUrl }
        : { type: 'upload', filename: a.filename, declaredContentType: a.declaredContentType, declaredSize: a.declaredSize };
  return {
    id: a.id,
    status: a.status,
    ...(a.status === 'ready' && a.key ? { url: urlFor(a.key) } : {}),
    key: a.status === 'ready' ? a.key : null,
    contentType: a.contentType,
    size: a.size,
    width: a.width,
    height: a.height,
    sha256: a.sha256,
    orientation: a.orientation,
    sourceSha256: a.sourceSha256,
    metadataRemoved: a.metadataRemoved ?? [],
    source,
    ownerId: a.ownerId,
    ...(a.status === 'failed' && a.errorCode ? { error: { code: a.errorCode, message: a.errorMessage ?? '' } } : {}),
    placeholder: a.placeholder ?? null,
    dominantColor: a.dominantColor ?? null,
    phash: a.phash ?? null,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}
