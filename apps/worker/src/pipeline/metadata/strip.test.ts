/**
 * The strip stage on real files: sharp makes the pixels, exiftool writes personal metadata into
 * them and reads back what the stored bytes still carry; sharp decodes both to prove the pixels
 * are untouched. Every file is also fed in small chunks, so headers and segments straddle chunk
 * boundaries the way network reads make them.
 */
import { Readable } from 'node:stream';
import { AppError } from '@rehost/jobs';
import {
  appendMotionPhoto,
  exiftoolTags,
  exiftoolWrite,
  PERSONAL_TAGS,
  type FixtureFormat,
  imageMetadata,
  makeBaseImage,
  makeOrientedAvif,
  makePersonalImage,
  personalTags,
  rawPixels,
} from '@rehost/testing/metadata';
import { readImageFixture, sha256, streamNoisePng } from '@rehost/testing';
import { type VerifyLimits, verifyImageStream } from '../verify-image.js';

const LIMITS: VerifyLimits = { maxBytes: 64 * 1024 * 1024, maxPixels: 50_000_000 };

async function run(bytes: Buffer, limits: Partial<VerifyLimits> = {}, chunk = 7) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const { body, done } = await verifyImageStream(Readable.from(chunks), { ...LIMITS, ...limits });
  const out: Buffer[] = [];
  for await (const c of body) out.push(c as Buffer);
  return { stored: Buffer.concat(out), result: await done };
}

const FORMATS: FixtureFormat[] = ['jpg', 'png', 'webp', 'gif', 'avif'];

describe.each(FORMATS)('strip %s', (format) => {
  let original: Buffer;
  beforeAll(async () => {
    original = await makePersonalImage(format, { orientation: format === 'gif' ? undefined : 6 });
  });

  it('the fixture does carry personal metadata (else this suite proves nothing)', () => {
    expect(personalTags(exiftoolTags(original, format)).length).toBeGreaterThan(0);
  });

  it('stores no GPS, serial, names, XMP, IPTC or comments; keeps orientation and ICC; pixels equal', async () => {
    const { stored, result } = await run(original);
    const before = exiftoolTags(original, format);
    const after = exiftoolTags(stored, format);
    expect(personalTags(after)).toEqual([]);
    expect(result.metadataRemoved.length).toBeGreaterThan(0);
    if (format !== 'gif') expect(result.metadataRemoved).toContain('exif');
    if (format !== 'avif' && format !== 'gif') {
      expect(after['IFD0:Orientation']).toBe(6);
      expect(result.orientation).toBe(6);
      // Browsers turn JPEG and PNG by their EXIF orientation, not WebP (Chromium shows it as stored).
      expect([result.width, result.height]).toEqual(format === 'webp' ? [96, 64] : [64, 96]);
    }
    const icc = Object.keys(before).filter((k) => k.startsWith('ICC_Profile:'));
    for (const k of icc) expect(after[k]).toEqual(before[k]);
    expect(await rawPixels(stored)).toEqual(await rawPixels(original));
    expect(result.sha256).toBe(sha256(stored));
    expect(result.size).toBe(stored.length);
    expect(result.sourceSha256).toBe(sha256(original));
    expect(result.sourceSize).toBe(original.length);
  });

  it("keeps nothing that exiftool's own reference strip would remove (but PNG pixel density)", async () => {
    const reference = exiftoolWrite(original, format, ['-all=', '--icc_profile:all', '-tagsfromfile', '@', '-Orientation']);
    const { stored } = await run(original);
    const theirs = exiftoolTags(reference, format);
    const structural = /^(System|ExifTool|File|Composite|SourceFile)\b/;
    const oursOnly = Object.keys(exiftoolTags(stored, format)).filter((k) => !structural.test(k) && !(k in theirs));
    // pHYs says how many pixels make an inch: a property of the image, not of a person or place.
    expect(oursOnly.filter((k) => !k.startsWith('PNG-pHYs:'))).toEqual([]);
  });

  it('under keep, stores the bytes exactly as received and still reports the orientation', async () => {
    const { stored, result } = await run(original, { metadataPolicy: 'keep' });
    expect(stored.equals(original)).toBe(true);
    expect(result.sha256).toBe(result.sourceSha256);
    expect(result.metadataRemoved).toEqual([]);
    if (format === 'jpg' || format === 'png' || format === 'webp') expect(result.orientation).toBe(6);
  });

  it('a file with nothing to strip is stored byte for byte', async () => {
    const clean = await makeBaseImage(format);
    const { stored, result } = await run(clean);
    expect(result.metadataRemoved).toEqual([]);
    expect(stored.equals(clean)).toBe(true);
  });

  // The received bytes are hashed once while the stored ones are the same (verify-image.ts): both
  // hashes must still be those of their bytes wherever the first difference falls in a chunk.
  it('sha256 is of the stored bytes and sourceSha256 of the received ones, whatever the chunking', async () => {
    const clean = await makeBaseImage(format);
    const trailing = format === 'jpg' ? [appendMotionPhoto(clean), appendMotionPhoto(clean, 3 * 1024 * 1024)] : [];
    for (const bytes of [original, clean, ...trailing]) {
      for (const chunk of bytes.length > 1e6 ? [65536] : [1, 7, 100, 4096, 65536]) {
        const { stored, result } = await run(bytes, {}, chunk);
        expect(result.sourceSha256).toBe(sha256(bytes));
        expect(result.sha256).toBe(sha256(stored));
        expect(result.size).toBe(stored.length);
      }
    }
  });
});

describe('orientation', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('JPEG orientation %i reports the displayed dimensions and keeps the tag', async (orientation) => {
    const jpeg = await makePersonalImage('jpg', { width: 96, height: 64, orientation });
    const { stored, result } = await run(jpeg, {}, 64 * 1024);
    const turned = orientation >= 5;
    expect(result.orientation).toBe(orientation);
    expect([result.width, result.height]).toEqual(turned ? [64, 96] : [96, 64]);
    expect((await imageMetadata(stored)).orientation ?? 1).toBe(orientation);
  });
});

describe('real files from elsewhere', () => {
  it.each([['progressive.jpg', 'jpg'], ['animated.gif', 'gif'], ['lossy.webp', 'webp'], ['photo.avif', 'avif']] as const)(
    '%s with personal metadata written into it: cleaned, same pixels',
    async (name, format) => {
      const original = exiftoolWrite(readImageFixture(name), format, PERSONAL_TAGS);
      expect(personalTags(exiftoolTags(original, format)).length).toBeGreaterThan(0);
      const { stored } = await run(original, {}, 1000);
      expect(personalTags(exiftoolTags(stored, format))).toEqual([]);
      expect(await rawPixels(stored)).toEqual(await rawPixels(original));
    },
  );
});

describe('AVIF orientation (irot/imir, as sharp writes them)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('orientation %i is reported as EXIF would, the size as displayed', async (orientation) => {
    const avif = await makeOrientedAvif(orientation);
    for (const metadataPolicy of ['strip', 'keep'] as const) {
      const { result } = await run(avif, { metadataPolicy }, 100);
      expect(result.orientation).toBe(orientation);
      expect([result.width, result.height]).toEqual(orientation >= 5 ? [64, 96] : [96, 64]);
    }
  });
});

describe('trailing data', () => {
  it('a motion photo is stored without its appended video, still a valid JPEG with the same pixels', async () => {
    const photo = await makePersonalImage('jpg');
    const motion = appendMotionPhoto(photo);
    const { stored, result } = await run(motion, {}, 4096);
    expect(result.metadataRemoved).toContain('trailing');
    expect(stored.includes(Buffer.from('ftypmp42', 'latin1'))).toBe(false);
    expect(stored.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect((await imageMetadata(stored)).format).toBe('jpeg');
    expect(await rawPixels(stored)).toEqual(await rawPixels(photo));
  });
});

describe('files that are nothing but metadata tricks: refused or cleaned, never a hang', () => {
  const code = async (bytes: Buffer): Promise<string> => {
    try {
      const { result } = await run(bytes, {}, 13);
      return `stored:${result.metadataRemoved.join(',')}`;
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };

  it('an EXIF segment claiming 64 KiB in a 1 KiB file is truncated_image', async () => {
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0xff, 0xff]), Buffer.from('Exif\0\0MM\0*\0\0\0\x08', 'latin1'), Buffer.alloc(1000, 0x41)]);
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8]), app1]);
    expect(await code(bytes)).toBe('truncated_image');
  });

  it('an IFD0 that points at itself (a loop) is read once, without following it', async () => {
    const jpeg = await makeBaseImage('jpg');
    // IFD0 at offset 8: one entry (a SubIFD pointer back to 8), then "next IFD" = 8 again.
    const tiff = Buffer.from('MM\0*\0\0\0\x08\0\x01\x87\x69\0\x04\0\0\0\x01\0\0\0\x08\0\0\0\x08', 'latin1');
    const seg = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 0]), Buffer.from('Exif\0\0', 'latin1'), tiff]);
    seg.writeUInt16BE(seg.length - 2, 2);
    const bytes = Buffer.concat([jpeg.subarray(0, 2), seg, jpeg.subarray(2)]);
    expect(await code(bytes)).toBe('stored:exif');
  });

  it('a PNG chunk length past the end of the file is truncated_image', async () => {
    const png = await makeBaseImage('png');
    const bad = Buffer.from(png);
    bad.writeUInt32BE(0x7fff0000, 8 + 25); // the chunk after IHDR
    expect(await code(bad)).toBe('truncated_image');
  });

  it('a PNG eXIf chunk of garbage is removed', async () => {
    const png = await makeBaseImage('png', { icc: false });
    const exif = Buffer.alloc(600, 0xee);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(exif.length);
    const { crc32 } = await import('node:zlib');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(exif, crc32(Buffer.from('eXIf'))));
    const bytes = Buffer.concat([png.subarray(0, 33), len, Buffer.from('eXIf'), exif, crc, png.subarray(33)]);
    expect(await code(bytes)).toBe('stored:exif');
  });

  it('an AVIF whose meta box claims more than the file holds is refused', async () => {
    const avif = await makePersonalImage('avif');
    const bad = Buffer.from(avif);
    const meta = bad.indexOf('meta', 0, 'latin1') - 4;
    bad.writeUInt32BE(0x7ffffff0, meta);
    expect(['truncated_image', 'not_an_image']).toContain(await code(bad));
  });
});

describe('corrupted files: always a verdict (stored, or refused with an AppError), never a crash', () => {
  it.each(FORMATS)('%s: 150 seeded mutations of a file with metadata', async (format) => {
    const original = await makePersonalImage(format, { orientation: format === 'gif' ? undefined : 6 });
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const verdicts = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const bytes = Buffer.from(original);
      // Hit the metadata-heavy head most of the time: that is where the editors parse.
      const span = next() < 0.8 ? Math.min(bytes.length, 4096) : bytes.length;
      for (let k = 0; k < 1 + Math.floor(next() * 4); k++) bytes[Math.floor(next() * span)] = Math.floor(next() * 256);
      try {
        await run(bytes, {}, 1 + Math.floor(next() * 5000));
        verdicts.add('stored');
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        verdicts.add((err as AppError).code);
      }
    }
    expect([...verdicts].every((v) => ['stored', 'not_an_image', 'truncated_image', 'too_many_pixels'].includes(v))).toBe(true);
  });
});

describe('streaming', () => {
  it('strips a 100 MB file as it passes: at most a few chunks in flight, image data handed on uncopied', async () => {
    const text = Buffer.from('\0\0\0\x0dtEXtAuthor\0Alice!\0\0\0\0', 'latin1');
    let pulled = 0;
    const inputBuffers = new WeakSet<ArrayBufferLike>();
    function* source(): Generator<Buffer> {
      let first = true;
      for (const chunk of streamNoisePng(5000, 20_000)) {
        pulled += chunk.length;
        inputBuffers.add(chunk.buffer);
        yield chunk;
        if (first) {
          pulled += text.length;
          yield text; // a text chunk right after IHDR
        }
        first = false;
      }
    }
    const { body, done } = await verifyImageStream(Readable.from(source()), { ...LIMITS, maxBytes: 200 * 1024 * 1024, maxPixels: 200_000_000 });
    let maxInFlight = 0;
    let outBytes = 0;
    let viewBytes = 0;
    // 'data' hands over each pushed chunk as it is (an async iterator would concatenate them).
    body.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (inputBuffers.has(chunk.buffer)) viewBytes += chunk.length;
      maxInFlight = Math.max(maxInFlight, pulled - outBytes);
    });
    const result = await done;
    expect(result.sourceSize).toBeGreaterThan(100_000_000);
    expect(result.metadataRemoved).toEqual(['text']);
    expect(outBytes).toBe(result.sourceSize - text.length);
    // Read ahead is the streams' high-water marks (a few 64 KiB chunks), not the file.
    expect(maxInFlight).toBeLessThan(1024 * 1024);
    expect(viewBytes / outBytes).toBeGreaterThan(0.999);
  });
});
