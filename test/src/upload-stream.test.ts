/**
 * ObjectStore.uploadStream on the real S3 server: a body that ends within its first part goes up
 * in one PutObject, a longer one as a multipart upload that starts with the bytes already read;
 * either way the object is exactly the body, with the sniffed type and the immutable cache
 * header, and a body that fails leaves nothing at the key.
 */
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestBucket, seededBytes, sha256, type TestBucket } from '@rehost/testing';

let b: TestBucket;
beforeAll(async () => {
  b = await createTestBucket({ partSize: 5 * 1024 * 1024, queueSize: 2 });
});
afterAll(async () => {
  await b?.cleanup();
});

/** `bytes` in `size`-byte chunks, failing after `failAfter` bytes when given. */
function chunked(bytes: Buffer, size: number, failAfter?: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += size) {
        if (failAfter !== undefined && i >= failAfter) throw new Error('check failed mid-stream');
        yield bytes.subarray(i, i + size);
      }
    })(),
    { objectMode: false },
  );
}

async function stored(key: string) {
  const head = await b.store.client.send(new HeadObjectCommand({ Bucket: b.bucket, Key: key }));
  const body = await b.store.getStream(key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return { bytes: Buffer.concat(chunks), contentType: head.ContentType, cacheControl: head.CacheControl };
}

describe('uploadStream', () => {
  it.each([
    ['a small body in several chunks (one PutObject)', 100_000, 7_000],
    ['a body of exactly one part', 5 * 1024 * 1024, 64 * 1024],
    ['a body of several parts (multipart, first part read ahead)', 12 * 1024 * 1024 + 123, 64 * 1024],
  ])('%s is stored exactly, with its type and cache header', async (_name, length, chunk) => {
    const bytes = seededBytes(length, `upload-${length}`);
    const key = `i/upload-${length}.png`;
    await b.store.uploadStream(key, chunked(bytes, chunk), 'image/png');
    const out = await stored(key);
    expect(out.bytes.length).toBe(length);
    expect(sha256(out.bytes)).toBe(sha256(bytes));
    expect(out.contentType).toBe('image/png');
    expect(out.cacheControl).toBe('public, max-age=31536000, immutable');
  });

  it.each([
    ['within the first part', 100_000, 50_000],
    ['after the first part', 12 * 1024 * 1024, 7 * 1024 * 1024],
  ])('a body failing %s rejects and leaves nothing at the key', async (_name, length, failAfter) => {
    const key = `i/failing-${length}.png`;
    await expect(b.store.uploadStream(key, chunked(seededBytes(length), 64 * 1024, failAfter), 'image/png')).rejects.toThrow('check failed mid-stream');
    expect(await b.store.head(key)).toBeUndefined();
    expect(await b.store.listMultipartUploads(key)).toEqual([]);
  });

  it('an aborted upload rejects with the reason and leaves nothing', async () => {
    const key = 'i/aborted.png';
    const ac = new AbortController();
    const never = new Readable({ read() {} });
    never.push(seededBytes(1000));
    const pending = b.store.uploadStream(key, never, 'image/png', ac.signal);
    ac.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    expect(await b.store.head(key)).toBeUndefined();
  });
});
