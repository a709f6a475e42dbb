import { createHash } from 'node:crypto';
import { Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@rehost/jobs';
import {
  makeApng,
  makePng,
  makePngBombHeader,
  padJpegHeader,
  readImageFixture,
  seededBytes,
  sha256,
  streamNoisePng,
  TINY_GIF,
} from '@rehost/testing';
import { type VerifyLimits, verifyImageStream } from './verify-image.js';

const LIMITS: VerifyLimits = { maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000 };

/** A byte source handing out `bytes` in `size`-byte chunks, counting what was pulled from it. */
function sourceOf(chunks: Iterable<Buffer>) {
  const stats = { pulled: 0, finished: false, exhausted: false };
  function* counted() {
    try {
      for (const chunk of chunks) {
        stats.pulled += chunk.length;
        yield chunk;
      }
      stats.exhausted = true;
    } finally {
      stats.finished = true; // also runs when the stream is destroyed early
    }
  }
  return { source: Readable.from(counted(), { objectMode: false }), stats };
}

function* chunksOf(bytes: Buffer, size = 64 * 1024): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(body: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of body) out.push(chunk);
  return Buffer.concat(out);
}

async function verify(bytes: Buffer, limits: Partial<VerifyLimits> = {}, size?: number) {
  const { header, body, done } = await verifyImageStream(sourceOf(chunksOf(bytes, size)).source, { ...LIMITS, ...limits });
  const out = await collect(body);
  return { header, out, result: await done };
}

/** The AppError a run ends with, wherever it surfaces; when `body` fails, `done` must fail the same way. */
async function failure(bytes: Buffer | Iterable<Buffer>, limits: Partial<VerifyLimits> = {}, size?: number): Promise<AppError> {
  const chunks = Buffer.isBuffer(bytes) ? chunksOf(bytes, size) : bytes;
  let started: Awaited<ReturnType<typeof verifyImageStream>>;
  try {
    started = await verifyImageStream(sourceOf(chunks).source, { ...LIMITS, ...limits });
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  const bodyError = await collect(started.body).then(() => undefined, (err: unknown) => err);
  expect(bodyError).toBeInstanceOf(AppError);
  await expect(started.done).rejects.toBe(bodyError);
  return bodyError as AppError;
}

const ACCEPTED: Array<[name: string, bytes: Buffer, contentType: string, ext: string, width: number, height: number]> = [
  ['photo.jpg', readImageFixture('photo.jpg'), 'image/jpeg', 'jpg', 64, 48],
  ['progressive.jpg', readImageFixture('progressive.jpg'), 'image/jpeg', 'jpg', 64, 48],
  ['photo.png', readImageFixture('photo.png'), 'image/png', 'png', 64, 48],
  ['animated.gif', readImageFixture('animated.gif'), 'image/gif', 'gif', 40, 30],
  ['lossy.webp', readImageFixture('lossy.webp'), 'image/webp', 'webp', 64, 48],
  ['lossless.webp', readImageFixture('lossless.webp'), 'image/webp', 'webp', 64, 48],
  ['alpha.webp', readImageFixture('alpha.webp'), 'image/webp', 'webp', 64, 48],
  ['photo.avif', readImageFixture('photo.avif'), 'image/avif', 'avif', 64, 48],
  ['makePng(300,200)', makePng(300, 200), 'image/png', 'png', 300, 200],
  ['TINY_GIF', TINY_GIF, 'image/gif', 'gif', 1, 1],
  ['makeApng(20,10)', makeApng(20, 10), 'image/png', 'png', 20, 10],
];

describe('verifyImageStream accepts real images', () => {
  test.each(ACCEPTED)('%s', async (_name, bytes, contentType, ext, width, height) => {
    for (const size of [7, 65536]) {
      const { header, out, result } = await verify(bytes, { expectedBytes: bytes.length }, size);
      expect(header).toEqual({ contentType, ext, width, height });
      expect(result).toMatchObject({ contentType, ext, width, height, orientation: 1, sourceSize: bytes.length, sourceSha256: sha256(bytes) });
      expect(result).toMatchObject({ size: out.length, sha256: sha256(out) });
      // Under the default policy, a file without metadata is stored byte for byte.
      expect(out.equals(bytes)).toBe(result.metadataRemoved.length === 0);
    }
  });

  test('a JPEG whose SOF sits beyond 64 KB of EXIF-like segments', async () => {
    const jpeg = padJpegHeader(readImageFixture('photo.jpg'), 300_000);
    const { header, result } = await verify(jpeg, { metadataPolicy: 'keep' }, 16 * 1024);
    expect(header).toMatchObject({ contentType: 'image/jpeg', width: 64, height: 48 });
    expect(result).toMatchObject({ size: jpeg.length, sha256: sha256(jpeg) });
  });

  test('under keep, a JPEG with a motion-photo video after its EOI is stored whole', async () => {
    const jpeg = Buffer.concat([readImageFixture('photo.jpg'), seededBytes(200_000)]);
    const { result } = await verify(jpeg, { metadataPolicy: 'keep' });
    expect(result).toMatchObject({ width: 64, height: 48, size: jpeg.length, sha256: sha256(jpeg) });
  });

  test('under strip, a file with nothing to leave out is handed on one piece per chunk received, not one per segment', async () => {
    // 64 KiB chunks across 64 KiB IDAT chunks: every received chunk spans a segment boundary.
    const png = Buffer.concat([...streamNoisePng(1024, 600)]);
    const received = [...chunksOf(png, 64 * 1024)];
    const { body, done } = await verifyImageStream(sourceOf(received).source, LIMITS);
    const pieces: Buffer[] = [];
    body.on('data', (piece: Buffer) => pieces.push(piece));
    await done;
    expect(Buffer.concat(pieces).equals(png)).toBe(true);
    // (The header phase holds the first chunk; every later one comes out as itself.)
    expect(pieces.length).toBeLessThanOrEqual(received.length);
  });

  test('an image of exactly maxBytes and maxPixels passes', async () => {
    const png = makePng(100, 50);
    const { result } = await verify(png, { maxBytes: png.length, maxPixels: 5000 });
    expect(result.size).toBe(png.length);
  });
});

describe('verifyImageStream refuses', () => {
  test.each(ACCEPTED)('%s truncated: truncated_image', async (_name, bytes) => {
    for (const cut of [bytes.length - 1, Math.floor(bytes.length * 0.6)]) {
      expect((await failure(bytes.subarray(0, cut))).code).toBe('truncated_image');
    }
  });

  test('a large PNG truncated: body errors before it ends, so an upload never completes', async () => {
    const png = makePng(400, 400); // ~480 KB, well past the header phase
    const { body, done } = await verifyImageStream(sourceOf(chunksOf(png.subarray(0, -100))).source, LIMITS);
    let ended = false;
    body.on('end', () => {
      ended = true;
    });
    await expect(collect(body)).rejects.toMatchObject({ code: 'truncated_image' });
    await expect(done).rejects.toMatchObject({ code: 'truncated_image' });
    expect(ended).toBe(false);
  });

  test.each([
    ['drawing.svg', readImageFixture('drawing.svg')],
    ['page.html', readImageFixture('page.html')],
    ['document.pdf', readImageFixture('document.pdf')],
    ['image.tiff', readImageFixture('image.tiff')],
    ['photo.heic', readImageFixture('photo.heic')],
    ['random bytes', seededBytes(100_000)],
    ['an empty file', Buffer.alloc(0)],
    ['a PNG followed by HTML', Buffer.concat([makePng(64, 64), readImageFixture('page.html')])],
    ['a PNG claiming 0x10 pixels', makePngBombHeader(0, 10)],
  ])('%s: not_an_image, before any byte is handed on', async (_name, bytes) => {
    await expect(verifyImageStream(sourceOf(chunksOf(bytes)).source, LIMITS)).rejects.toMatchObject({ code: 'not_an_image' });
  });

  test('a decompression-bomb header: too_many_pixels from the header alone', async () => {
    const bomb = makePngBombHeader(100_000, 100_000);
    const { source, stats } = sourceOf(chunksOf(Buffer.concat([bomb.subarray(0, -12), seededBytes(1_000_000)]), 4096));
    await expect(verifyImageStream(source, LIMITS)).rejects.toMatchObject({
      code: 'too_many_pixels',
      message: 'image is 100000x100000 pixels, more than the limit of 50000000',
    });
    expect(stats.pulled).toBeLessThan(100_000);
    expect(stats.finished).toBe(true);
    expect((await failure(makePng(100, 50), { maxPixels: 4999 })).code).toBe('too_many_pixels');
  });

  test('dimensions not within maxHeaderBytes: not_an_image, with the reason', async () => {
    const jpeg = padJpegHeader(readImageFixture('photo.jpg'), 1_200_000);
    const err = await failure(jpeg, {}, 16 * 1024);
    expect(err).toMatchObject({ code: 'not_an_image', message: expect.stringContaining('no jpg dimensions in the first 1048576 bytes') });
    const small = await failure(padJpegHeader(readImageFixture('photo.jpg'), 50_000), { maxHeaderBytes: 20_000 });
    expect(small.message).toContain('no jpg dimensions in the first 20000 bytes');
  });

  test('over maxBytes: cut off at once, the source is not read on', async () => {
    function* endless(): Generator<Buffer> {
      let sent = 0;
      for (const chunk of streamNoisePng(10_000, 1_000_000_000)) {
        // 10 TB if anyone read it all: fail fast instead of hanging if the cut-off is broken
        sent += chunk.length;
        if (sent > 50_000_000) throw new Error('the source was read far past maxBytes');
        yield chunk;
      }
    }
    const { source, stats } = sourceOf(endless());
    const { body, done } = await verifyImageStream(source, { maxBytes: 5_000_000, maxPixels: Number.MAX_SAFE_INTEGER });
    const received = { bytes: 0 };
    const err = await pipeline(body, sink(received)).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'too_large' });
    await expect(done).rejects.toBe(err);
    expect(received.bytes).toBeLessThanOrEqual(5_000_000);
    expect(stats.pulled).toBeLessThan(5_000_000 + 512 * 1024);
    expect(stats.finished).toBe(true);
    expect(stats.exhausted).toBe(false);
  });

  test('over maxBytes already in the header: the call itself rejects', async () => {
    await expect(verifyImageStream(sourceOf(chunksOf(makePng(64, 64))).source, { ...LIMITS, maxBytes: 1000 })).rejects.toMatchObject({
      code: 'too_large',
    });
  });

  test('expectedBytes: shorter, longer or above maxBytes are refused', async () => {
    const png = makePng(300, 300); // ~270 KB
    const short = await failure(png, { expectedBytes: png.length + 10 });
    expect(short).toMatchObject({ code: 'length_mismatch', message: `uploaded object has ${png.length} bytes, ${png.length + 10} were declared` });
    const long = await failure(png, { expectedBytes: png.length - 10 });
    expect(long.code).toBe('length_mismatch');
    expect((await failure(TINY_GIF, { expectedBytes: 100 })).code).toBe('length_mismatch');
    const declaredTooBig = await failure(png, { expectedBytes: LIMITS.maxBytes + 1 });
    expect(declaredTooBig.code).toBe('too_large');
  });
});

describe('verifyImageStream and its source', () => {
  test('a source error reaches body and done unchanged', async () => {
    const network = new Error('socket hang up');
    function* broken(): Generator<Buffer> {
      yield* chunksOf(makePng(400, 400).subarray(0, 200_000));
      throw network;
    }
    const { body, done } = await verifyImageStream(sourceOf(broken()).source, LIMITS);
    await expect(collect(body)).rejects.toBe(network);
    await expect(done).rejects.toBe(network);
  });

  test('a source error while the header is read rejects the call with it', async () => {
    const network = new Error('ECONNRESET');
    function* broken(): Generator<Buffer> {
      yield readImageFixture('photo.jpg').subarray(0, 100);
      throw network;
    }
    await expect(verifyImageStream(sourceOf(broken()).source, LIMITS)).rejects.toBe(network);
  });

  test('destroying body stops the source, and done rejects', async () => {
    const { source, stats } = sourceOf(streamNoisePng(1000, 10_000));
    const { body, done } = await verifyImageStream(source, LIMITS);
    body.destroy();
    await expect(done).rejects.toThrow();
    // pipeline destroys the source with a premature-close error: wait for close, not for success
    if (!source.closed) await new Promise((resolve) => source.once('close', resolve));
    expect(stats.finished).toBe(true);
    expect(stats.exhausted).toBe(false);
  });

  test('backpressure: a 50 MB PNG through a slow consumer holds only a few chunks', async () => {
    const { source, stats } = sourceOf(streamNoisePng(5000, 10_000)); // 50 MB
    const hash = createHash('sha256');
    const { body, done } = await verifyImageStream(source, { ...LIMITS, maxBytes: 60_000_000 });
    const seen = { bytes: 0, maxInside: 0, maxAhead: 0 };
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        seen.bytes += chunk.length;
        seen.maxInside = Math.max(seen.maxInside, body.readableLength + (body as Transform).writableLength);
        seen.maxAhead = Math.max(seen.maxAhead, stats.pulled - seen.bytes);
        setImmediate(callback); // give the source every chance to run ahead
      },
    });
    await pipeline(body, slow);
    const result = await done;
    expect(stats.exhausted).toBe(true);
    expect(result).toMatchObject({ width: 5000, height: 10_000, size: seen.bytes, sha256: hash.digest('hex') });
    expect(seen.bytes).toBeGreaterThan(50_000_000);
    expect(seen.maxInside).toBeLessThanOrEqual(4 * 64 * 1024);
    expect(seen.maxAhead).toBeLessThanOrEqual(8 * 64 * 1024);
  });
});

function sink(received: { bytes: number }): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.bytes += chunk.length;
      callback();
    },
  });
}
