import type { Asset } from '@rehost/db';
import type { AssetView } from '@rehost/jobs';
import { publicUrlFor } from '@rehost/storage';

/** The API's view of an asset; the URL is derived from the key at read time. */
export function toAssetView(a: Asset, publicBaseUrl: string): AssetView {
  const source: AssetView['source'] =
    a.sourceType === 'telegram'
      ? { type: 'telegram', fileId: a.telegramFileId, fileUniqueId: a.telegramFileUniqueId, bot: a.telegramBot }
      : a.sourceType === 'url'
        ? { type: 'url', url: a.sourceUrl }
        : { type: 'upload', filename: a.filename, declaredContentType: a.declaredContentType, declaredSize: a.declaredSize };
  return {
    id: a.id,
    status: a.status,
    ...(a.status === 'ready' && a.key ? { url: publicUrlFor(publicBaseUrl, a.key) } : {}),
    key: a.status === 'ready' ? a.key : null,
    contentType: a.contentType,
    size: a.size,
    width: a.width,
    height: a.height,
    sha256: a.sha256,
    source,
    ownerId: a.ownerId,
    ...(a.status === 'failed' && a.errorCode ? { error: { code: a.errorCode, message: a.errorMessage ?? '' } } : {}),
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}
