/**
 * The only module that talks to the S3 API (R2 in production, Ceph RGW in dev/tests).
 * Everything else sees this small interface.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { IMMUTABLE_CACHE_CONTROL, PUBLIC_PREFIX, STAGING_PREFIX } from './keys.js';
import { uploadMultipart } from './multipart-upload.js';

export interface ObjectStoreConfig {
  endpoint?: string | undefined;
  region: string;
  bucket: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle: boolean;
  /** Multipart part size for streamed uploads. R2 requires equal-size parts (all but the last). */
  partSize: number;
  /** Parts uploaded concurrently per stream. */
  queueSize: number;
  /**
   * Canned ACL signed into every pre-signed PUT (`x-amz-acl`, a signed header the client must
   * send as given): a client cannot add `x-amz-acl: public-read` or `x-amz-grant-*` of its own
   * (the signature no longer matches, or the store refuses a grant beside a canned ACL).
   * `undefined` signs none (a store that refuses the header; R2 has no ACLs at all).
   * @defaultValue undefined
   */
  presignAcl?: 'private' | undefined;
  /**
   * Sign object and part uploads with `UNSIGNED-PAYLOAD` instead of the SHA-256 of each body, which
   * the SDK otherwise computes (a full pass over every byte, on top of the asset's own sha256).
   * TLS already protects the bytes in transit, and the content is verified and hashed by us.
   * @defaultValue true for https endpoints (and the SDK's default endpoint), false for http
   */
  unsignedPayload?: boolean | undefined;
}

export interface HeadResult {
  size: number;
  contentType: string | undefined;
  etag: string | undefined;
}

export interface PresignedPut {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface StoreOpHook {
  (op: string, outcome: 'ok' | 'error', seconds: number): void;
}

const UNSIGNED_PAYLOAD_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

export class ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  /** Called after every operation (metrics). */
  onOp: StoreOpHook | undefined;
  /**
   * Called each time a streamed upload has filled a part (every `partSize` bytes). The body's
   * network chunks copied into that part are garbage from then on, but their memory lies outside
   * V8's heap and a long stream makes little else: V8 frees it only once ~64 MB more of it has
   * piled up, so without a collection here a stream's peak RSS rises with its length. The worker
   * collects the young generation here (apps/worker/src/context.ts). Unset: nothing is called.
   */
  onPartFilled: (() => void) | undefined;

  constructor(readonly config: ObjectStoreConfig) {
    this.bucket = config.bucket;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials:
        config.accessKeyId && config.secretAccessKey
          ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
          : undefined,
      // R2 (and RGW with streamed bodies) support checksums only partly: compute them only when required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
    if (config.unsignedPayload ?? !config.endpoint?.startsWith('http:')) {
      // Before signing (finalizeRequest): the signer takes a preset x-amz-content-sha256 as the
      // payload hash. Same header name as the presigner's, and only with a body, so pre-signed
      // URLs (no body) are untouched.
      this.client.middlewareStack.add(
        (next, context) => async (args) => {
          const request = args.request as { headers?: Record<string, string>; body?: unknown };
          if (UNSIGNED_PAYLOAD_COMMANDS.has(context.commandName ?? '') && request.headers && request.body != null) {
            request.headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
          }
          return next(args);
        },
        { step: 'build', name: 'rehostUnsignedPayload' },
      );
    }
  }

  private async op<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      this.onOp?.(name, 'ok', (performance.now() - started) / 1000);
      return out;
    } catch (err) {
      this.onOp?.(name, 'error', (performance.now() - started) / 1000);
      throw err;
    }
  }

  /**
   * Pre-signed PUT that binds content type, exact length and (with `presignAcl`) the object's
   * ACL: the store refuses anything else. The client must send exactly `headers`.
   */
  async presignPut(key: string, contentType: string, contentLength: number, ttlSeconds: number): Promise<PresignedPut> {
    const acl = this.config.presignAcl;
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: contentType, ContentLength: contentLength, ACL: acl });
    const url = await getSignedUrl(this.client, command, {
      expiresIn: ttlSeconds,
      signableHeaders: new Set(['content-type', 'content-length', ...(acl ? ['x-amz-acl'] : [])]),
      // Hoisted into the query string, x-amz-acl would not stop a header of the client's own
      // (RGW lets an unsigned `x-amz-acl: public-read` header win): keep it a signed header.
      unhoistableHeaders: new Set(acl ? ['x-amz-acl'] : []),
    });
    return {
      url,
      method: 'PUT',
      headers: { 'Content-Type': contentType, 'Content-Length': String(contentLength), ...(acl ? { 'x-amz-acl': acl } : {}) },
      expiresAt: new Date(Date.now() + ttlSeconds * 1000),
    };
  }

  /** HeadObject; undefined when the object does not exist. */
  head(key: string): Promise<HeadResult | undefined> {
    return this.op('head', async () => {
      try {
        const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return { size: out.ContentLength ?? 0, contentType: out.ContentType, etag: out.ETag };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** Streams an object (optionally a byte range, inclusive). */
  getStream(key: string, opts: { range?: { start: number; end: number }; ifMatch?: string } = {}): Promise<Readable> {
    return this.op('get', async () => {
      const { range, ifMatch } = opts;
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
          IfMatch: ifMatch,
        }),
      );
      return out.Body as Readable;
    });
  }

  /** Small in-memory write (tests, markers). Public objects get the immutable cache header. */
  put(key: string, body: Uint8Array | string, contentType: string): Promise<void> {
    return this.op('put', async () => {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          CacheControl: key.startsWith(PUBLIC_PREFIX) ? IMMUTABLE_CACHE_CONTROL : undefined,
        }),
      );
    });
  }

  /**
   * Streams `body` into `key`: multipart on a fixed set of part buffers (multipart-upload.ts),
   * so memory stays flat whatever the size. If `body` errors (a check failed mid-stream) the
   * multipart upload is aborted and nothing appears at `key`. A body that ends within its first
   * part goes up in one PutObject, without the multipart machinery (most images are small);
   * those bytes are what it resolves with (`undefined` after a multipart upload).
   */
  uploadStream(key: string, body: Readable, contentType: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    return this.op('upload', async () => {
      const first = await readFirstPart(body, this.config.partSize, signal);
      if (first.ended) {
        const bytes = first.chunks.length === 1 ? first.chunks[0]! : Buffer.concat(first.chunks);
        const params = { Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.length, ContentType: contentType, CacheControl: IMMUTABLE_CACHE_CONTROL };
        await this.client.send(new PutObjectCommand(params), { abortSignal: signal });
        return bytes;
      }
      const target = { Bucket: this.bucket, Key: key, ContentType: contentType, CacheControl: IMMUTABLE_CACHE_CONTROL };
      const { partSize, queueSize } = this.config;
      await uploadMultipart(this.client, target, chained(first.chunks, body), { partSize, queueSize, signal, onPartFilled: this.onPartFilled });
      return undefined;
    });
  }

  /**
   * Server-side copy to a published key with the sniffed type and the immutable cache
   * header (REPLACE: the declared type on the staging object is not carried over).
   */
  publishCopy(fromKey: string, toKey: string, contentType: string, opts: { ifMatch?: string } = {}): Promise<void> {
    return this.op('copy', async () => {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: `${this.bucket}/${encodeURIComponent(fromKey).replaceAll('%2F', '/')}`,
          // Only the bytes we verified: a re-PUT through a still-valid URL changes the ETag.
          CopySourceIfMatch: opts.ifMatch,
          MetadataDirective: 'REPLACE',
          ContentType: contentType,
          CacheControl: IMMUTABLE_CACHE_CONTROL,
        }),
      );
    });
  }

  delete(key: string): Promise<void> {
    return this.op('delete', async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    });
  }

  /** In-progress multipart uploads under a prefix (sweeper; retry clean-up). */
  listMultipartUploads(prefix: string): Promise<{ key: string; uploadId: string; initiated: Date | undefined }[]> {
    return this.op('list_multipart', async () => {
      const out = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
      return (out.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated }));
    });
  }

  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return this.op('abort_multipart', async () => {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    });
  }

  /** Aborts every unfinished multipart upload under `prefix`; returns how many. */
  async abortMultipartUploads(prefix: string): Promise<number> {
    const uploads = await this.listMultipartUploads(prefix);
    for (const u of uploads) await this.abortMultipartUpload(u.key, u.uploadId);
    return uploads.length;
  }

  async listKeys(prefix: string, limit = 1000): Promise<string[]> {
    return this.op('list', async () => {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: limit }));
      return (out.Contents ?? []).map((o) => o.Key!);
    });
  }

  /**
   * One page of objects under `prefix`, in key order, after `startAfter` (a resumable scan:
   * pass the last key back). `done` when the listing reached the end.
   */
  async listObjects(
    prefix: string,
    opts: { startAfter?: string | undefined; limit?: number } = {},
  ): Promise<{ objects: { key: string; size: number; lastModified: Date | undefined }[]; done: boolean }> {
    return this.op('list', async () => {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, StartAfter: opts.startAfter || undefined, MaxKeys: opts.limit ?? 1000 }),
      );
      const objects = (out.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified }));
      return { objects, done: !out.IsTruncated };
    });
  }

  /** Readiness: the bucket exists and our credentials reach it. */
  async ping(): Promise<void> {
    await this.op('head_bucket', () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
  }

  /**
   * Dev/test set-up of a bucket as R2 is configured in production (README, docs/WEB-UPLOADS.md):
   * the bucket; a CORS rule for browser PUTs; public ACLs ignored (`PutPublicAccessBlock`
   * IgnorePublicAcls: an ACL a PUT asks for grants nothing — the bucket policy alone decides);
   * lifecycle rules that expire `staging/` objects after `stagingExpiryDays` and abort
   * multipart uploads unfinished after `abortMultipartAfterDays`; and anonymous read of the
   * public prefix only (what an R2 custom domain gives). Production buckets are configured by
   * the operator.
   */
  async ensureBucket(opts: {
    corsOrigins: string[];
    publicRead: boolean;
    /** @defaultValue stagingExpiryDaysFor(7 days), the longest URL lifetime */
    stagingExpiryDays?: number;
    /** @defaultValue 1 */
    abortMultipartAfterDays?: number;
  }): Promise<void> {
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
    await this.client.send(
      new PutBucketCorsCommand({
        Bucket: this.bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: opts.corsOrigins,
              AllowedMethods: ['PUT', 'GET', 'HEAD'],
              AllowedHeaders: ['content-type', 'content-length', 'x-amz-acl'],
              ExposeHeaders: ['ETag'],
              MaxAgeSeconds: 3600,
            },
          ],
        },
      }),
    );
    await this.client.send(
      new PutPublicAccessBlockCommand({
        Bucket: this.bucket,
        // ACLs only: the bucket policy below is what makes `i/` public, and must keep working.
        // IgnorePublicAcls: a public ACL (set through a PUT, or earlier) grants nothing. Not
        // BlockPublicAcls: Ceph RGW 16.2 then refuses every PutObject, with or without an ACL.
        PublicAccessBlockConfiguration: { BlockPublicAcls: false, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false },
      }),
    );
    await this.client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: this.bucket,
        LifecycleConfiguration: { Rules: lifecycleRules(opts.stagingExpiryDays ?? stagingExpiryDaysFor(7 * 24 * 3600), opts.abortMultipartAfterDays ?? 1) },
      }),
    );
    if (opts.publicRead) {
      await this.client.send(
        new PutBucketPolicyCommand({
          Bucket: this.bucket,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'PublicReadOfPublishedImages',
                Effect: 'Allow',
                Principal: '*',
                Action: ['s3:GetObject'],
                Resource: [`arn:aws:s3:::${this.bucket}/${PUBLIC_PREFIX}*`],
              },
            ],
          }),
        }),
      );
    }
  }

  /** Tests only: removes the (empty) bucket. */
  async deleteBucket(): Promise<void> {
    await this.client.send(new DeleteBucketCommand({ Bucket: this.bucket }));
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** Rule ids of the lifecycle configuration `ensureBucket` sets (an operator may look for them). */
export const LIFECYCLE_RULE_IDS = { staging: 'rehost-expire-staging', multipart: 'rehost-abort-multipart' } as const;

/**
 * Days after which the lifecycle rule removes a staging object: longer than any pre-signed URL
 * lives (`uploadTtlSeconds`), plus a day for `complete` and the finalize job. The sweeper's
 * `sweep-staging` removes them much sooner; the rule is the backstop.
 */
export function stagingExpiryDaysFor(uploadTtlSeconds: number): number {
  return Math.ceil(uploadTtlSeconds / 86_400) + 1;
}

function lifecycleRules(stagingDays: number, multipartDays: number) {
  return [
    { ID: LIFECYCLE_RULE_IDS.staging, Status: 'Enabled' as const, Filter: { Prefix: STAGING_PREFIX }, Expiration: { Days: stagingDays } },
    {
      ID: LIFECYCLE_RULE_IDS.multipart,
      Status: 'Enabled' as const,
      Filter: { Prefix: '' },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: multipartDays },
    },
  ];
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    return err.$metadata.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey';
  }
  return false;
}

/** The object changed between two reads (If-Match failed). */
export function isPreconditionFailed(err: unknown): boolean {
  return err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412;
}

/** Errors worth retrying: throttling, 5xx, network. */
export function isTransientStoreError(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    return status >= 500 || status === 429 || status === 408;
  }
  return true; // network errors, timeouts
}

/** The S3_* environment (CONTRACT.md §2), already parsed by @rehost/config. */
export interface S3EnvLike {
  S3_ENDPOINT?: string | undefined;
  S3_REGION: string;
  S3_BUCKET: string;
  S3_ACCESS_KEY_ID?: string | undefined;
  S3_SECRET_ACCESS_KEY?: string | undefined;
  S3_FORCE_PATH_STYLE: boolean;
  S3_PART_SIZE_BYTES: number;
  S3_QUEUE_SIZE: number;
  S3_PRESIGN_ACL?: 'private' | 'none' | undefined;
}

export function storeFromEnv(c: S3EnvLike): ObjectStore {
  return new ObjectStore({
    endpoint: c.S3_ENDPOINT,
    region: c.S3_REGION,
    bucket: c.S3_BUCKET,
    accessKeyId: c.S3_ACCESS_KEY_ID,
    secretAccessKey: c.S3_SECRET_ACCESS_KEY,
    forcePathStyle: c.S3_FORCE_PATH_STYLE,
    partSize: c.S3_PART_SIZE_BYTES,
    queueSize: c.S3_QUEUE_SIZE,
    presignAcl: c.S3_PRESIGN_ACL === 'none' ? undefined : 'private',
  });
}

/** The chunks already read, then the rest of `body`. */
async function* chained(first: Buffer[], body: Readable): AsyncIterable<Buffer> {
  yield* first;
  yield* body as AsyncIterable<Buffer>;
}

/**
 * Reads `body` until it ends or `partSize` bytes have arrived (the chunks are returned, not
 * copied); a stream error, or the signal, rejects. Leaves the stream paused.
 */
function readFirstPart(body: Readable, partSize: number, signal?: AbortSignal): Promise<{ chunks: Buffer[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const settle = (fn: () => void) => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onReadable = () => {
      for (let chunk = body.read() as Buffer | null; chunk !== null; chunk = body.read() as Buffer | null) {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= partSize) return settle(() => resolve({ chunks, ended: false }));
      }
    };
    const onEnd = () => settle(() => resolve({ chunks, ended: true }));
    const onError = (err: Error) => settle(() => reject(err));
    const onAbort = () => settle(() => reject(signal!.reason));
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    body.on('readable', onReadable);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

