import { z } from 'zod';

export const ASSET_STATUSES = ['pending_upload', 'queued', 'processing', 'ready', 'failed', 'expired'] as const;
export type AssetStatus = (typeof ASSET_STATUSES)[number];
export const TERMINAL_STATUSES: readonly AssetStatus[] = ['ready', 'failed', 'expired'];

/** Image types we store (magic bytes decide, never the declared type). SVG is refused: it can carry script. */
export const ALLOWED_IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif'] as const;
export type ImageType = (typeof ALLOWED_IMAGE_TYPES)[number];
export const EXTENSION_FOR_TYPE: Record<ImageType, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
};

export const errorBody = z.object({ code: z.string(), message: z.string() });

/** The body of GET /v1/assets/:id (CONTRACT.md §3). */
export const assetView = z.object({
  id: z.string(),
  status: z.enum(ASSET_STATUSES),
  url: z.string().optional(),
  key: z.string().nullable(),
  contentType: z.string().nullable(),
  size: z.number().nullable().describe('Bytes stored (after metadata removal under METADATA_POLICY=strip)'),
  width: z.number().nullable().describe('As displayed: EXIF orientation applied'),
  height: z.number().nullable().describe('As displayed: EXIF orientation applied'),
  sha256: z.string().nullable().describe('Of the stored bytes'),
  // Optional so that @rehost/client still reads a server from before they existed.
  orientation: z.number().int().min(1).max(8).nullable().optional().describe('EXIF orientation (1–8), kept in the stored bytes'),
  sourceSha256: z.string().nullable().optional().describe('Of the bytes as received, so a caller can recognise its own file'),
  metadataRemoved: z.array(z.string()).optional().describe('Kinds of metadata left out of the stored bytes (never their values)'),
  source: z.object({ type: z.enum(['upload', 'telegram', 'url']) }).catchall(z.unknown()),
  ownerId: z.string().nullable(),
  error: errorBody.optional(),
  // Image facts: always sent by this API (null until analysed). Optional in the schema so that a
  // client of this version still reads an API, or a stored webhook body, from before them.
  /** ThumbHash (base64) to paint before the image loads; null until analysed. */
  placeholder: z.string().nullable().optional(),
  /** `#rrggbb`; null until analysed. */
  dominantColor: z.string().nullable().optional(),
  /** 64-bit DCT perceptual hash, 16 hex characters; null until analysed. */
  phash: z.string().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AssetView = z.infer<typeof assetView>;

/**
 * What every finished job announces (CONTRACT.md §5). `deleted` is published by DELETE so that
 * long-polls on the asset answer 404 at once; it never reaches a webhook. `analyzed` follows
 * `ready` once the image facts are recorded (with `error` when the image could not be decoded:
 * the asset stays ready, its facts null); it is not a status an asset ever has.
 */
export const ASSET_EVENT_STATUSES = [...ASSET_STATUSES, 'deleted', 'analyzed'] as const;
export const assetEvent = z.object({
  assetId: z.string(),
  status: z.enum(ASSET_EVENT_STATUSES),
  url: z.string().optional(),
  error: errorBody.optional(),
});
export type AssetEvent = z.infer<typeof assetEvent>;

/** GET /v1/assets: one keyset page (CONTRACT.md §3). */
export const assetPage = z.object({ items: z.array(assetView), nextCursor: z.string().nullable() });

/** GET /v1/owners/:ownerId/usage. */
export const ownerUsage = z.object({ ownerId: z.string(), assets: z.number(), bytes: z.number(), pending: z.number() });
export type OwnerUsage = z.infer<typeof ownerUsage>;

/** DELETE /v1/owners/:ownerId/assets (202) and GET /v1/erasures/:erasureId. */
export const erasureStarted = z.object({ erasureId: z.string(), status: z.enum(['running', 'done']) });
export const erasureView = erasureStarted.extend({
  deleted: z.number(),
  total: z.number(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type ErasureView = z.infer<typeof erasureView>;
