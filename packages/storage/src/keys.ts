/**
 * Object keys are chosen by the server only. Two prefixes:
 * - `staging/` — where a browser may PUT through a pre-signed URL; never public.
 * - `i/`       — published, immutable objects; the only publicly readable prefix.
 * A filename never becomes part of a key.
 */
import { createHash, randomBytes } from 'node:crypto';

export const PUBLIC_PREFIX = 'i/';
export const STAGING_PREFIX = 'staging/';

export const stagingKeyFor = (assetId: string): string => `${STAGING_PREFIX}${assetId}`;
/**
 * Every run that writes a public object writes a key of its own, so no retry, stalled run or
 * changed source can overwrite bytes another run published: `i/<run prefix><random>.<ext>`.
 * The prefix is a digest of the asset id (an asset's URL never names the asset it was first
 * stored for — dedupe shares it with others), so a re-run can still find and abort what an
 * earlier run of the same asset left unfinished.
 */
export const publicKeyPrefixFor = (assetId: string): string =>
  `${PUBLIC_PREFIX}${createHash('sha256').update(assetId).digest('hex').slice(0, 20)}`;
export const newPublicKeyFor = (assetId: string, ext: string): string =>
  `${publicKeyPrefixFor(assetId)}${randomBytes(6).toString('hex')}.${ext}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The asset id a staging key was made from; undefined for a key of another shape (nothing we made). */
export const assetIdOfStagingKey = (key: string): string | undefined => {
  if (!key.startsWith(STAGING_PREFIX)) return undefined;
  const id = key.slice(STAGING_PREFIX.length);
  return UUID.test(id) ? id : undefined;
};

/** Permanent URL: derived at read time, so changing CDN domain changes one setting. */
export const publicUrlFor = (publicBaseUrl: string, key: string): string => `${publicBaseUrl}/${key}`;

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
