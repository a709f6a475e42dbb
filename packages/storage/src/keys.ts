/**
 * Object keys are chosen by the server only. Two prefixes:
 * - `staging/` — where a browser may PUT through a pre-signed URL; never public.
 * - `i/`       — published, immutable objects; the only publicly readable prefix.
 * A filename never becomes part of a key.
 */
export const PUBLIC_PREFIX = 'i/';
export const STAGING_PREFIX = 'staging/';

export const stagingKeyFor = (assetId: string): string => `${STAGING_PREFIX}${assetId}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The asset id a staging key was made from; undefined for a key of another shape (nothing we made). */
export const assetIdOfStagingKey = (key: string): string | undefined => {
  if (!key.startsWith(STAGING_PREFIX)) return undefined;
  const id = key.slice(STAGING_PREFIX.length);
  return UUID.test(id) ? id : undefined;
};
export const publicKeyFor = (assetId: string, ext: string): string => `${PUBLIC_PREFIX}${assetId}.${ext}`;

/** Permanent URL: derived at read time, so changing CDN domain changes one setting. */
export const publicUrlFor = (publicBaseUrl: string, key: string): string => `${publicBaseUrl}/${key}`;

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
