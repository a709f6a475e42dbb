import type { MarkedReady } from '@rehost/db';
import { AppError, errors, TERMINAL_STATUSES } from '@rehost/jobs';
import { isPreconditionFailed, newPublicKeyFor, publicUrlFor } from '@rehost/storage';
import { discardUnrecorded, resultOf, settleLostReady, sweepEarlierRuns } from '../pipeline/settle-ready.js';
import { storedFacts, storeVerifiedStream } from '../pipeline/store-verified.js';
import { type VerifiedImage, verifyImageStream } from '../pipeline/verify-image.js';
import type { Processor } from './types.js';

/**
 * Verify-then-copy: the bytes at the staging key (where the browser PUT them) are
 * read once through the verification stage, then copied server-side to the public
 * key — only if they are still the bytes we verified (If-Match on the ETag). When the
 * stage would leave metadata out (METADATA_POLICY=strip), the same bytes are read a
 * second time instead and the cleaned stream is uploaded to the public key. The
 * staging key stays writable until its URL expires; the public key never changes.
 */
export const finalizeUpload: Processor<'finalizeUpload'> = async ({ data, log, reportStored, noteCallback, signal, attemptsMade }, ctx) => {
  const { assetId } = data;
  const asset = await ctx.assets.get(assetId);
  noteCallback?.(Boolean(asset?.callbackUrl));
  if (!asset || TERMINAL_STATUSES.includes(asset.status)) return resultOf(ctx, assetId, asset);
  // `complete` moved it to processing already; only an older row can still be pending here.
  if (asset.status !== 'processing') await ctx.assets.transition(assetId, ['pending_upload', 'queued'], 'processing');
  const stagingKey = asset.stagingKey!;
  const declared = asset.declaredSize!;

  const head = await ctx.store.head(stagingKey);
  if (!head) throw errors.objectMissing();
  if (head.size !== declared) throw errors.lengthMismatch(head.size, declared);

  let key: string;
  let img: VerifiedImage;
  try {
    const source = await ctx.store.getStream(stagingKey, { ifMatch: head.etag });
    const verification = await verifyImageStream(source, {
      maxBytes: ctx.config.MAX_UPLOAD_BYTES,
      maxPixels: ctx.config.MAX_IMAGE_PIXELS,
      expectedBytes: declared,
      metadataPolicy: ctx.config.METADATA_POLICY,
    });
    verification.body.resume(); // read to the end, nothing kept
    img = await verification.done;
    if (img.sha256 === img.sourceSha256) {
      // Nothing to strip: a key of this run's own (write-once by construction), copied only from the bytes verified.
      key = newPublicKeyFor(assetId, img.ext);
      await ctx.store.publishCopy(stagingKey, key, img.contentType, { ifMatch: head.etag });
    } else {
      // Metadata to leave out: the same bytes (If-Match) stream once more through the stage, cleaned, to a new key.
      const again = await ctx.store.getStream(stagingKey, { ifMatch: head.etag });
      const cleaned = await storeVerifiedStream(ctx, assetId, again, signal, { rerun: attemptsMade > 0, expectedBytes: declared });
      key = cleaned.key;
      if (cleaned.sourceSha256 !== img.sourceSha256 || cleaned.sha256 !== img.sha256) {
        await ctx.store.delete(key);
        throw new AppError('conflict', 'the uploaded object changed during verification; verifying again');
      }
      img = cleaned;
    }
  } catch (err) {
    if (isPreconditionFailed(err)) {
      throw new AppError('conflict', 'the uploaded object changed during verification; verifying again');
    }
    throw err;
  }
  let stored: MarkedReady | null;
  try {
    stored = await ctx.assets.markReady(assetId, storedFacts({ ...img, key }));
  } catch (err) {
    // Published but maybe not recorded: nothing may stay under i/ that no asset names.
    await discardUnrecorded(ctx, assetId, key, log);
    throw err;
  }
  await ctx.store.delete(stagingKey).catch((err) => log.warn({ err }, 'staging delete failed'));
  // Deleted or failed while we worked, or another run finished first: this run's copy is nobody's.
  if (!stored) return settleLostReady(ctx, assetId, key, log);
  if (attemptsMade > 0) await sweepEarlierRuns(ctx, assetId, key, log);
  reportStored(img.size);
  ctx.onMetadataRemoved?.(img.metadataRemoved);
  log.info({ size: img.size, contentType: img.contentType }, 'upload verified');
  return { assetId, status: 'ready', url: publicUrlFor(ctx.config.PUBLIC_BASE_URL, key) };
};

/** Clean-up when a finalize fails for good: failed bytes are never left reachable. */
export async function discardStagedUpload(assetId: string, ctx: Parameters<Processor<'finalizeUpload'>>[1]): Promise<void> {
  const asset = await ctx.assets.get(assetId);
  if (asset?.stagingKey) await ctx.store.delete(asset.stagingKey);
}
