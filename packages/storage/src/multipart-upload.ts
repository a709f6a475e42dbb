import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

export interface MultipartTarget {
  Bucket: string;
  Key: string;
  ContentType: string;
  CacheControl?: string | undefined;
}

export interface MultipartOptions {
  partSize: number;
  /** Parts uploading at once. */
  queueSize: number;
  signal?: AbortSignal | undefined;
  /** Called each time a part is full, before it is sent (ObjectStore.onPartFilled says why). */
  onPartFilled?: (() => void) | undefined;
}

/**
 * A multipart upload of `body` on a fixed set of part buffers: at most `queueSize` parts
 * uploading and one being filled, each a buffer of `partSize` allocated once per upload and
 * reused — every network chunk is copied into the part being filled and dropped at once.
 *
 * Why not lib-storage's `Upload`: it keeps the chunks of a part until the part is full and then
 * joins them into a new buffer per part. Those buffers live through their part's upload, get
 * promoted, and their memory waits for a major GC, which V8 starts only tens of MB of external
 * memory later: the process's peak grew with the file (docs/BENCHMARKS.md, `memory`). Here the
 * peak is the buffers, whatever the size. The copy is the one `Buffer.concat` made anyway.
 *
 * If `body` errors (a check failed mid-stream), a part fails (after the client's own retries) or
 * `signal` aborts, the parts in flight are cancelled, the upload is aborted, and nothing appears
 * at the key; the error is rethrown.
 */
export async function uploadMultipart(client: S3Client, target: MultipartTarget, body: AsyncIterable<Buffer>, opts: MultipartOptions): Promise<void> {
  const { partSize, queueSize, signal } = opts;
  signal?.throwIfAborted();
  const { UploadId } = await client.send(new CreateMultipartUploadCommand(target), { abortSignal: signal });
  const { Bucket, Key } = target;
  // One signal for the parts: the caller's abort, or the first failed part, cancels the others.
  const cancel = new AbortController();
  const onAbort = () => cancel.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort(); // aborted while the upload was being created

  const free: Buffer[] = [];
  let allocated = 0;
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let failure: unknown;

  /** Waits for a free upload slot (fewer than queueSize parts in flight), then sends the part. */
  const send = async (buffer: Buffer, length: number, PartNumber: number) => {
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    cancel.signal.throwIfAborted();
    const part = client
      .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: buffer.subarray(0, length), ContentLength: length }), { abortSignal: cancel.signal })
      .then((out) => {
        parts.push({ PartNumber, ETag: out.ETag });
        free.push(buffer); // sent and answered: nothing reads it any more
      })
      .catch((err: unknown) => {
        failure ??= err;
        cancel.abort(err);
      })
      .finally(() => inFlight.delete(part));
    inFlight.add(part);
  };
  /** A buffer to fill: a free one, a new one while fewer than queueSize + 1 exist (queueSize in flight, one filling), else the next one a part gives back. */
  const nextBuffer = async (): Promise<Buffer> => {
    for (;;) {
      if (failure !== undefined) throw failure;
      cancel.signal.throwIfAborted();
      const buffer = free.pop();
      if (buffer) return buffer;
      if (allocated <= queueSize) {
        allocated++;
        return Buffer.allocUnsafeSlow(partSize);
      }
      await Promise.race(inFlight);
    }
  };

  const fill = async () => {
    let buffer = await nextBuffer();
    let filled = 0;
    let partNumber = 1;
    for await (const chunk of body) {
      for (let offset = 0; offset < chunk.length; ) {
        const n = chunk.copy(buffer, filled, offset);
        filled += n;
        offset += n;
        if (filled === partSize) {
          opts.onPartFilled?.();
          await send(buffer, filled, partNumber++);
          buffer = await nextBuffer();
          filled = 0;
        }
      }
      if (failure !== undefined) throw failure;
      cancel.signal.throwIfAborted();
    }
    // The last part may be short (and is the only one that may); an empty one only for an empty body.
    if (filled > 0 || partNumber === 1) await send(buffer, filled, partNumber++);
  };
  // An abort (the caller's, or a failed part) ends the upload at once, even while the body is
  // silent; the body itself is the caller's to destroy.
  const cancelled = new Promise<never>((_, reject) => {
    if (cancel.signal.aborted) reject(cancel.signal.reason);
    cancel.signal.addEventListener('abort', () => reject(failure ?? cancel.signal.reason), { once: true });
  });
  cancelled.catch(() => undefined);

  try {
    const filling = fill();
    filling.catch(() => undefined); // when the abort wins, the body's later error has no one to tell
    await Promise.race([filling, cancelled]);
    await Promise.race([Promise.all(inFlight), cancelled]);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }), { abortSignal: signal });
  } catch (err) {
    // What ended it: a failed part, else the body's error or the caller's abort (the parts this
    // abort cancels fail afterwards; their errors are not the cause).
    const cause = failure ?? err;
    cancel.abort(cause);
    await Promise.allSettled(inFlight);
    // Best effort: a part store that refuses now is cleaned by the sweeper (abort-multipart) later.
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
    throw cause;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
