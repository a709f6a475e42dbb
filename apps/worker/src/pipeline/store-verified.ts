import type { Readable } from 'node:stream';
import type { StoredImage } from '@rehost/db';
import { newPublicKeyFor, publicKeyPrefixFor } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import { type VerifiedImage, verifyImageStream } from './verify-image.js';

/**
 * The streaming core shared by every server-side source: bytes flow from the source
 * through the verification stage straight into a multipart upload; memory is bounded
 * by part size × parts in flight, whatever the file size. A failed check errors the
 * stream before its end, so the upload is aborted and nothing appears at the key. The key is
 * new for every run (write-once by construction); the caller records it or deletes it.
 */
export async function storeVerifiedStream(
  ctx: WorkerContext,
  assetId: string,
  source: Readable,
  signal: AbortSignal,
  opts: { rerun: boolean; expectedBytes?: number },
): Promise<VerifiedImage & { key: string }> {
  // The source is handed to the verifier at once, so its errors always have a listener.
  const { header, body, done } = await verifyImageStream(source, {
    maxBytes: ctx.config.MAX_UPLOAD_BYTES,
    ...(opts.expectedBytes === undefined ? {} : { expectedBytes: opts.expectedBytes }),
    maxPixels: ctx.config.MAX_IMAGE_PIXELS,
    metadataPolicy: ctx.config.METADATA_POLICY,
  });
  // A previous run killed mid-upload leaves parts behind: abort them before uploading again. Only a
  // re-run can find any, and listing costs a store round trip (a billed list operation on R2) that
  // first runs, nearly all of them, need not pay; the sweeper aborts whatever is left anyway.
  if (opts.rerun) await ctx.store.abortMultipartUploads(publicKeyPrefixFor(assetId));
  // Failures are reported through `done` (and the upload); an 'error' event the upload no longer
  // listens for must not become an uncaught exception.
  body.on('error', () => {});
  // A key of this run's own: nothing it writes can replace what another run published.
  const key = newPublicKeyFor(assetId, header.ext);
  // Both must settle: an upload error must also stop the source, a source error fails the upload.
  const [uploaded, verified] = await Promise.allSettled([ctx.store.uploadStream(key, body, header.contentType, signal), done]);
  if (verified.status === 'rejected') {
    source.destroy();
    throw verified.reason;
  }
  if (uploaded.status === 'rejected') {
    source.destroy();
    throw uploaded.reason;
  }
  // Small enough to have gone up in one request: kept a moment for this image's analysis, which
  // follows its `ready` in this same job.
  if (uploaded.value) ctx.recentObjects?.remember(assetId, key, uploaded.value);
  return { ...verified.value, key };
}

/** What `markReady` records of a verified image stored at `key`. */
export function storedFacts(img: VerifiedImage & { key: string }): StoredImage {
  const { key, contentType, size, width, height, sha256, sourceSha256, orientation, metadataRemoved } = img;
  return { key, contentType, size, width, height, sha256, sourceSha256, orientation, metadataRemoved };
}
