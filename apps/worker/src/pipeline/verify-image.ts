/**
 * The one verification stage every source goes through (web uploads read back from the store,
 * Telegram downloads, URL downloads): bytes in; type, dimensions, sha256, size and limits out.
 * It sits on the streaming path of files up to 1 GB, so chunks are handed on as they came (no
 * copies), hashed incrementally, and only the header (at most `maxHeaderBytes`) is ever held.
 */
import { createHash, type Hash } from 'node:crypto';
import { finished as onStreamEnd, type Readable, Transform, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type AppError, EXTENSION_FOR_TYPE, errors, type ImageType } from '@rehost/jobs';
import {
  DIMENSIONS_MAY_BE_LATE,
  readDimensions,
  SNIFF_BYTES,
  type StructureWalker,
  sniffImageType,
  structureWalker,
} from './image-format.js';
import { displayedSize, type MetadataKind, metadataEditor, type StreamEditor } from './metadata/index.js';

export type MetadataPolicy = 'strip' | 'keep';

export interface VerifyLimits {
  /** Largest accepted file; the stream is cut off as soon as it is exceeded. */
  maxBytes: number;
  /** Largest accepted width × height, judged from the header alone (decompression bombs). */
  maxPixels: number;
  /** Exact length expected (web uploads: the declared size). */
  expectedBytes?: number;
  /**
   * How many leading bytes may be buffered to find the dimensions (JPEG EXIF/ICC segments can
   * push the SOF far in).
   * @defaultValue 1 MiB
   */
  maxHeaderBytes?: number;
  /**
   * `strip`: the bytes handed on leave out location and personal metadata (see metadata/);
   * `keep`: they are the bytes received. Either way the orientation is read.
   * @defaultValue 'strip'
   */
  metadataPolicy?: MetadataPolicy;
}

export interface ImageHeader {
  contentType: ImageType;
  ext: string;
  /** As stored in the file (JPEG EXIF orientation is not applied). */
  width: number;
  height: number;
}

export interface VerifiedImage extends ImageHeader {
  /** As displayed: EXIF orientation applied where browsers apply it (JPEG, PNG); ImageHeader's are as stored. */
  width: number;
  height: number;
  /** EXIF orientation, 1–8 (1 when absent). */
  orientation: number;
  /** Of the bytes handed on (stored). */
  size: number;
  /** Of the bytes handed on (stored); lower-case hex. */
  sha256: string;
  /** Of the bytes as received. */
  sourceSha256: string;
  sourceSize: number;
  /** Kinds of metadata left out (sorted; empty under `keep` or when there was none). */
  metadataRemoved: MetadataKind[];
}

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/** Received bytes held back (not yet handed on) before the stored bytes count as different. */
const MAX_UNHASHED_BYTES = 2 * 1024 * 1024;

/**
 * Reads `source` until the header is known (type by magic bytes, dimensions from the header),
 * rejecting before any byte is handed on when it is not an allowed image, has too many pixels,
 * or is already over `maxBytes` (or `expectedBytes`).
 *
 * `body` replays the buffered bytes and then the rest of the source, hashing and counting as they
 * pass. It errors with an AppError (and `done` rejects with the same) the moment the stream
 * exceeds `maxBytes`/`expectedBytes` or its structure goes wrong, and — before it ends, so a
 * consumer such as a multipart upload never completes with bad bytes — when the total differs
 * from `expectedBytes` or the image is truncated. A source error reaches `body` and `done`
 * unchanged (it is retryable upstream). `done` resolves after `body` has ended cleanly.
 * A source that ends while the header is still being read is checked completely before this
 * function returns, so those failures reject here instead.
 *
 * The source is owned from here on: it is destroyed on any failure, and destroying `body`
 * (to abandon it) destroys the source too.
 */
export async function verifyImageStream(
  source: Readable,
  limits: VerifyLimits,
): Promise<{ header: ImageHeader; body: Readable; done: Promise<VerifiedImage> }> {
  if (limits.expectedBytes !== undefined && limits.expectedBytes > limits.maxBytes) {
    source.destroy();
    throw errors.tooLarge(limits.expectedBytes, limits.maxBytes);
  }
  const body = new VerifyingStream(limits);
  const header = new Promise<ImageHeader>((resolve, reject) => {
    body.onHeader = resolve;
    body.once('error', reject);
  });
  // Wired by hand rather than with stream.pipeline, which aborts a fresh AbortController (a
  // DOMException with its stack) at the end of every stream: a source error (or a premature end)
  // reaches body as the same object, and body failing (over the limit: stop downloading now) or
  // its consumer destroying it destroys the source. Their outcome is reported through body and `done`.
  onStreamEnd(source, (err) => {
    if (err) body.destroy(err);
  });
  body.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(body);
  const done = finished(body).then(() => body.result!);
  // Callers that fail elsewhere first (say, the upload) may never await `done`; its rejection
  // must not become an unhandled rejection that takes the worker down.
  done.catch(() => {});
  return { header: await header, body, done };
}

class VerifyingStream extends Transform {
  onHeader: (header: ImageHeader) => void = () => {};
  /** Set just before the stream ends cleanly. */
  result: VerifiedImage | undefined;

  /**
   * Of the bytes received. Under `strip`, while the bytes handed on are still exactly the bytes
   * received (nearly every file has no metadata to leave out), it is also the hash of those: each
   * received byte is hashed once, when the same byte is handed on (`unhashed` holds the ones in
   * between, as views of their chunks). At the first byte that differs, `storedHash` forks from it.
   */
  private readonly hash = createHash('sha256');
  /** Of the bytes handed on, from the first one that differs from what was received (strip). */
  private storedHash: Hash | undefined;
  /** Received, not yet handed on, not yet hashed (strip, before any difference). */
  private unhashed: Buffer[] = [];
  private unhashedBytes = 0;
  private readonly maxHeaderBytes: number;
  private readonly strip: boolean;
  private received = 0;
  private stored = 0;
  private editor: StreamEditor | undefined;
  private readonly emitStored = (bytes: Buffer): void => {
    this.stored += bytes.length;
    if (this.storedHash) this.storedHash.update(bytes);
    else if (this.takeUnhashed(bytes)) this.hash.update(bytes);
    else {
      this.fork();
      this.storedHash!.update(bytes);
    }
    this.push(bytes);
  };
  private readonly observeOnly = (): void => {};
  private type: ImageType | undefined;
  private header: ImageHeader | undefined;
  private walker: StructureWalker | undefined;
  /** Chunks held while the header is unknown; handed on unchanged once it is. */
  private held: Buffer[] = [];
  /** Parse again only when the held bytes have doubled, so the header phase copies O(maxHeaderBytes) in total. */
  private nextAttemptAt: number;

  constructor(private readonly limits: VerifyLimits) {
    super();
    this.maxHeaderBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.strip = (limits.metadataPolicy ?? 'strip') === 'strip';
    this.nextAttemptAt = Math.min(SNIFF_BYTES, this.maxHeaderBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    const overLimit = this.runningLimitError();
    if (overLimit) {
      callback(overLimit);
    } else if (this.header) {
      callback(this.handOn(chunk));
    } else {
      this.held.push(chunk);
      this.findHeader(false).then(() => callback(), callback);
    }
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  private runningLimitError(): AppError | undefined {
    const { maxBytes, expectedBytes } = this.limits;
    if (this.received > maxBytes) return errors.tooLarge(this.received, maxBytes);
    // Web uploads: longer than declared is a mismatch already; reading on would only cost time.
    if (expectedBytes !== undefined && this.received > expectedBytes) return errors.lengthMismatch(this.received, expectedBytes);
    return undefined;
  }

  /**
   * Hash, walk and pass on one chunk; a structural problem stops it before it is passed on.
   * Under `strip` what is passed on is the editor's output (views of the chunk, less metadata);
   * under `keep` the editor only reads the orientation and its verdicts do not matter.
   */
  private handOn(chunk: Buffer): AppError | undefined {
    this.walker!.push(chunk);
    if (this.walker!.problem !== undefined) return errors.notAnImage(this.walker!.problem);
    if (!this.strip) {
      this.hash.update(chunk);
      const editor = this.editor!;
      if (!editor.settled && editor.problem === undefined) editor.push(chunk, this.observeOnly);
      this.push(chunk);
      return undefined;
    }
    if (this.storedHash) this.hash.update(chunk);
    else {
      this.unhashed.push(chunk);
      this.unhashedBytes += chunk.length;
    }
    this.editor!.push(chunk, this.emitStored);
    if (this.editor!.problem !== undefined) return errors.notAnImage(this.editor!.problem);
    // Held back this long, the bytes are being left out (a large text chunk, trailing data): fork now.
    if (!this.storedHash && this.unhashedBytes > MAX_UNHASHED_BYTES) this.fork();
    return undefined;
  }

  /**
   * Whether `bytes`, about to be handed on, are the next received bytes not hashed yet (then they
   * are taken off `unhashed`). A view of the same memory matches without a comparison.
   */
  private takeUnhashed(bytes: Buffer): boolean {
    if (bytes.length > this.unhashedBytes) return false;
    let at = 0;
    for (const view of this.unhashed) {
      if (at === bytes.length) break;
      const n = Math.min(view.length, bytes.length - at);
      const mine = bytes.subarray(at, at + n);
      const same = (mine.buffer === view.buffer && mine.byteOffset === view.byteOffset) || mine.equals(view.subarray(0, n));
      if (!same) return false;
      at += n;
    }
    for (let left = bytes.length; left > 0; ) {
      const view = this.unhashed[0]!;
      if (view.length <= left) {
        this.unhashed.shift();
        left -= view.length;
      } else {
        this.unhashed[0] = view.subarray(left);
        left = 0;
      }
    }
    this.unhashedBytes -= bytes.length;
    return true;
  }

  /** From here on the bytes handed on differ from those received: two hashes. */
  private fork(): void {
    this.storedHash = this.hash.copy();
    for (const view of this.unhashed) this.hash.update(view);
    this.unhashed = [];
    this.unhashedBytes = 0;
  }

  /** `final`: the source has ended, so what is held is the whole file. */
  private async findHeader(final: boolean): Promise<void> {
    const held = this.received;
    if (!final && held < this.nextAttemptAt) return;
    const head = Buffer.concat(this.held, Math.min(held, this.maxHeaderBytes));
    this.type ??= await sniffImageType(head);
    const type = this.type;
    const ext = EXTENSION_FOR_TYPE[type];
    const dims = readDimensions(head, type);
    if (!dims) {
      if (held >= this.maxHeaderBytes) {
        throw errors.notAnImage(`no ${ext} dimensions in the first ${this.maxHeaderBytes} bytes`);
      }
      if (final) throw errors.truncatedImage(ext); // the file ended inside its header
      if (!DIMENSIONS_MAY_BE_LATE.has(type)) throw errors.notAnImage(`unreadable ${ext} header`);
      this.nextAttemptAt = Math.min(held * 2, this.maxHeaderBytes);
      return;
    }
    const { width, height } = dims;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw errors.notAnImage(`${ext} header gives ${width}x${height} pixels`);
    }
    if (width * height > this.limits.maxPixels) throw errors.tooManyPixels(width, height, this.limits.maxPixels);

    this.header = { contentType: type, ext, width, height };
    this.walker = structureWalker(type);
    this.editor = metadataEditor(type);
    const chunks = this.held;
    this.held = [];
    for (const chunk of chunks) {
      const problem = this.handOn(chunk);
      if (problem) throw problem;
    }
    // At the end of the source, announce only once the whole file has passed its checks.
    if (!final) this.onHeader(this.header);
  }

  private async finish(): Promise<void> {
    const { expectedBytes } = this.limits;
    // Checked first: a short upload is best described by its length, whatever its bytes look like.
    if (expectedBytes !== undefined && this.received !== expectedBytes) {
      throw errors.lengthMismatch(this.received, expectedBytes);
    }
    const announce = !this.header;
    if (!this.header) await this.findHeader(true);
    const header = this.header!;
    if (this.walker!.ending() === 'truncated') throw errors.truncatedImage(header.ext);
    const editor = this.editor!;
    const unclean = this.strip ? editor.finish() : undefined;
    if (unclean !== undefined) throw errors.notAnImage(unclean);
    const orientation = editor.problem === undefined ? editor.orientation : 1;
    // Bytes received but never handed on (left out at the end): the stored bytes differ after all.
    if (this.strip && !this.storedHash && this.unhashedBytes > 0) this.fork();
    const storedSha256 = this.storedHash?.digest('hex');
    const sourceSha256 = this.hash.digest('hex');
    this.result = {
      ...header,
      ...displayedSize(header.width, header.height, editor.displaysOrientation ? orientation : 1),
      orientation,
      size: this.strip ? this.stored : this.received,
      sha256: storedSha256 ?? sourceSha256,
      sourceSha256,
      sourceSize: this.received,
      metadataRemoved: this.strip ? [...editor.removed].sort() : [],
    };
    if (announce) this.onHeader(header);
  }
}
