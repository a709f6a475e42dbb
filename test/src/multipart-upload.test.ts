/**
 * The multipart path of `ObjectStore.uploadStream` (packages/storage/src/multipart-upload.ts)
 * against the real S3 server: the bytes arrive whole and in order whatever the chunking, at most
 * `queueSize` parts are in flight, and a body error, a failed part or an abort leaves nothing —
 * no object, no open multipart upload.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseEnv } from '@rehost/config';
import { createTestBucket, createTestServices, type TestBucket } from '@rehost/testing';
import { workerConfigSchema } from '@rehost/worker/config';
import { createWorkerContext } from '@rehost/worker/context';

const PART = 5 * 1024 * 1024;
let bucket: TestBucket;

beforeAll(async () => {
  bucket = await createTestBucket({ partSize: PART, queueSize: 2 });
});
afterAll(async () => {
  await bucket?.cleanup();
});

/** `size` pseudo-random bytes (a different byte at every offset, so a misplaced chunk shows). */
function bytesOf(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The bytes as a stream of uneven chunks (1 byte to ~100 KB), as a network would hand them over. */
function chunked(bytes: Buffer, opts: { failAt?: number; stallAt?: number } = {}): Readable {
  let offset = 0;
  let n = 0;
  return new Readable({
    read() {
      if (opts.failAt !== undefined && offset >= opts.failAt) return void this.destroy(new Error('check failed mid-stream'));
      if (opts.stallAt !== undefined && offset >= opts.stallAt) return; // silent from here on
      if (offset >= bytes.length) return void this.push(null);
      const size = [1, 4093, 65536, 100_003][n++ % 4]!;
      this.push(bytes.subarray(offset, offset + size));
      offset += size;
    },
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function storedBytes(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await bucket.store.getStream(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Counts UploadPart requests in flight at once, each held `holdMs` before it is sent. */
function watchParts(holdMs: number) {
  const seen = { now: 0, max: 0, parts: 0 };
  const name = `watchParts-${Math.random()}`;
  bucket.store.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'UploadPartCommand') return next(args);
      seen.parts++;
      seen.now++;
      seen.max = Math.max(seen.max, seen.now);
      try {
        await new Promise((r) => setTimeout(r, holdMs));
        return await next(args);
      } finally {
        seen.now--;
      }
    },
    { step: 'initialize', name },
  );
  return { seen, stop: () => bucket.store.client.middlewareStack.remove(name) };
}

const openUploads = () => bucket.store.listMultipartUploads('');

describe('uploadStream, multipart', () => {
  it('stores the bytes exactly, from uneven chunks, with at most queueSize parts in flight', async () => {
    const bytes = bytesOf(3 * PART + 12_345);
    const watch = watchParts(150);
    let filled = 0;
    bucket.store.onPartFilled = () => filled++;
    try {
      expect(await bucket.store.uploadStream('i/multi.bin', chunked(bytes), 'application/octet-stream')).toBeUndefined();
    } finally {
      watch.stop();
      bucket.store.onPartFilled = undefined;
    }
    expect(watch.seen.parts).toBe(4);
    expect(filled).toBe(3); // each full part, once (the short last one is sent as it is)
    expect(watch.seen.max).toBe(2); // queueSize, reached: the bound is what holds it there
    const stored = await storedBytes('i/multi.bin');
    expect(stored.length).toBe(bytes.length);
    expect(sha(stored)).toBe(sha(bytes));
    expect(await openUploads()).toEqual([]);
  });

  it('a body ending exactly at a part boundary sends no empty part', async () => {
    const bytes = bytesOf(2 * PART, 2);
    const watch = watchParts(0);
    try {
      await bucket.store.uploadStream('i/boundary.bin', chunked(bytes), 'application/octet-stream');
    } finally {
      watch.stop();
    }
    expect(watch.seen.parts).toBe(2);
    expect(sha(await storedBytes('i/boundary.bin'))).toBe(sha(bytes));
  });

  it('a body that errors mid-stream: rejects with its error; no object, no open upload', async () => {
    const bytes = bytesOf(3 * PART, 3);
    await expect(bucket.store.uploadStream('i/failed.bin', chunked(bytes, { failAt: 2 * PART + 7 }), 'application/octet-stream')).rejects.toThrow(
      'check failed mid-stream',
    );
    expect(await bucket.store.head('i/failed.bin')).toBeUndefined();
    expect(await openUploads()).toEqual([]);
  });

  it('a part the store refuses: rejects with that error, cancels the rest; no object, no open upload', async () => {
    const name = 'refusePart2';
    bucket.store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { PartNumber?: number };
        if (context.commandName === 'UploadPartCommand' && input.PartNumber === 2) throw Object.assign(new Error('part 2 refused'), { name: 'InvalidPart' });
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      await expect(bucket.store.uploadStream('i/refused.bin', chunked(bytesOf(4 * PART, 4)), 'application/octet-stream')).rejects.toThrow('part 2 refused');
    } finally {
      bucket.store.client.middlewareStack.remove(name);
    }
    expect(await bucket.store.head('i/refused.bin')).toBeUndefined();
    expect(await openUploads()).toEqual([]);
  });

  it('an abort while the body is silent ends it at once with the abort reason; no open upload', async () => {
    const abort = new AbortController();
    const body = chunked(bytesOf(3 * PART, 5), { stallAt: PART + 100_000 });
    // The abort comes once the first part is stored: a multipart upload is open then.
    let partStored!: () => void;
    const firstPart = new Promise<void>((r) => (partStored = r));
    const name = 'firstPartStored';
    bucket.store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'UploadPartCommand') partStored();
        return out;
      },
      { step: 'initialize', name },
    );
    try {
      const upload = bucket.store.uploadStream('i/aborted.bin', body, 'application/octet-stream', abort.signal);
      await firstPart;
      expect(await openUploads()).toHaveLength(1);
      abort.abort(new Error('job cancelled'));
      await expect(upload).rejects.toThrow('job cancelled');
    } finally {
      bucket.store.client.middlewareStack.remove(name);
      body.destroy();
    }
    expect(await bucket.store.head('i/aborted.bin')).toBeUndefined();
    expect(await openUploads()).toEqual([]);
  });
});

describe("the worker's context", () => {
  it('collects the young generation after each filled part when gc is exposed, as the worker runs in production', async () => {
    const services = await createTestServices();
    const exposed = Object.getOwnPropertyDescriptor(globalThis, 'gc');
    const calls: unknown[] = [];
    globalThis.gc = ((opts: unknown) => void calls.push(opts)) as NodeJS.GCFunction;
    try {
      const ctx = createWorkerContext(parseEnv(workerConfigSchema, services.env));
      try {
        ctx.store.onPartFilled?.();
        expect(calls).toEqual([{ type: 'minor' }]);
      } finally {
        await ctx.close();
      }
    } finally {
      if (exposed) Object.defineProperty(globalThis, 'gc', exposed);
      else delete (globalThis as { gc?: unknown }).gc;
      await services.cleanup();
    }
  });
});
