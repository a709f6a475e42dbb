import { AppError, type ImageType } from '@rehost/jobs';
import { makeApng, makePng, padJpegHeader, readImageFixture, seededBytes, TINY_GIF } from '@rehost/testing';
import { readDimensions, sniffImageType, structureWalker } from './image-format.js';

/** Accepted fixtures with dimensions as ImageMagick's `identify` reports them. */
const ACCEPTED: Array<[name: string, type: ImageType, width: number, height: number]> = [
  ['photo.jpg', 'image/jpeg', 64, 48],
  ['progressive.jpg', 'image/jpeg', 64, 48],
  ['photo.png', 'image/png', 64, 48],
  ['animated.gif', 'image/gif', 40, 30],
  ['lossy.webp', 'image/webp', 64, 48],
  ['lossless.webp', 'image/webp', 64, 48],
  ['alpha.webp', 'image/webp', 64, 48],
  ['photo.avif', 'image/avif', 64, 48],
];

async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  throw new Error('expected an AppError');
}

/** Push `bytes` through a fresh walker in `size`-byte chunks. */
function walk(type: ImageType, bytes: Buffer, size = bytes.length || 1) {
  const walker = structureWalker(type);
  for (let i = 0; i < bytes.length; i += size) walker.push(bytes.subarray(i, i + size));
  return { ending: walker.ending(), problem: walker.problem, trailing: walker.trailing };
}

describe('sniffImageType', () => {
  test.each(ACCEPTED)('%s is %s', async (name, type) => {
    expect(await sniffImageType(readImageFixture(name))).toBe(type);
  });

  test('an animated PNG is stored as image/png', async () => {
    expect(await sniffImageType(makeApng(4, 4))).toBe('image/png');
  });

  test.each([
    ['drawing.svg', 'application/xml is not accepted'],
    ['page.html', 'unrecognised format'],
    ['document.pdf', 'application/pdf is not accepted'],
    ['image.tiff', 'image/tiff is not accepted'],
    ['photo.heic', 'image/heic is not accepted'],
  ])('%s is not an image (%s)', async (name, detail) => {
    await expect(sniffImageType(readImageFixture(name))).rejects.toMatchObject({ code: 'not_an_image', message: expect.stringContaining(detail) });
  });

  test('random bytes, an empty file and HTML behind a PNG signature are not images', async () => {
    const pngSignatureThenHtml = Buffer.concat([makePng(1, 1).subarray(0, 8), readImageFixture('page.html')]);
    for (const bytes of [seededBytes(8192), Buffer.alloc(0), pngSignatureThenHtml]) {
      expect(await codeOf(() => sniffImageType(bytes))).toBe('not_an_image');
    }
  });
});

describe('readDimensions', () => {
  test.each(ACCEPTED)('%s: %s %ix%i', (name, type, width, height) => {
    expect(readDimensions(readImageFixture(name), type)).toEqual({ width, height });
  });

  test('a prefix that stops before the dimensions gives undefined (read more), not a guess', () => {
    const jpeg = padJpegHeader(readImageFixture('photo.jpg'), 150_000);
    expect(readDimensions(jpeg.subarray(0, 100_000), 'image/jpeg')).toBeUndefined();
    expect(readDimensions(jpeg.subarray(0, 160_000), 'image/jpeg')).toEqual({ width: 64, height: 48 });
  });

  test('a header that image-size reads as another format than the magic bytes said is refused', async () => {
    // file-type needs only "GIF"; image-size falls back to its SVG parser, which would happily answer.
    const polyglot = Buffer.from('GIF00a<svg width="10" height="20"></svg>');
    expect(await sniffImageType(polyglot)).toBe('image/gif');
    expect(await codeOf(() => readDimensions(polyglot, 'image/gif'))).toBe('not_an_image');
  });

  test('a prefix that is a view into a larger buffer is read only up to its own end', () => {
    const png = makePng(7, 9);
    expect(png.subarray(0, 20).buffer.byteLength).toBeGreaterThan(20);
    expect(readDimensions(png.subarray(0, 20), 'image/png')).toBeUndefined();
  });
});

describe('structureWalker', () => {
  test.each(ACCEPTED)('%s is complete however it is chunked, and every proper prefix is truncated', (name, type) => {
    const bytes = readImageFixture(name);
    for (const size of [1, 7, 4096, bytes.length]) expect(walk(type, bytes, size)).toMatchObject({ ending: 'complete', problem: undefined });
    const boxEnds = type === 'image/avif' ? topLevelBoxEnds(bytes) : [];
    for (let cut = 0; cut < bytes.length; cut++) {
      // ISO-BMFF cannot tell a file cut exactly between two top-level boxes from a shorter file.
      if (boxEnds.includes(cut)) continue;
      expect([cut, walk(type, bytes.subarray(0, cut)).ending]).toEqual([cut, 'truncated']);
    }
  });

  test('a GIF cut just after a 0x3B byte inside its image data is still truncated', () => {
    const gif = readImageFixture('animated.gif');
    const cuts = [...gif.subarray(0, -1).entries()].filter(([, b]) => b === 0x3b).map(([i]) => i + 1);
    expect(cuts.length).toBeGreaterThan(0);
    for (const cut of cuts) expect(walk('image/gif', gif.subarray(0, cut)).ending).toBe('truncated');
    expect(walk('image/gif', TINY_GIF).ending).toBe('complete');
  });

  test.each([
    ['photo.png', 'image/png', 'PNG'],
    ['animated.gif', 'image/gif', 'GIF'],
    ['lossy.webp', 'image/webp', 'WebP'],
  ] as const)('%s followed by extra bytes is refused at the first extra byte', (name, type, label) => {
    const image = readImageFixture(name);
    const walker = structureWalker(type);
    walker.push(image);
    expect(walker.problem).toBeUndefined();
    walker.push(Buffer.from('<'));
    expect(walker.problem).toBe(`data after the end of the ${label} image`);
  });

  test('AVIF followed by extra bytes reads as a cut-off box', () => {
    expect(walk('image/avif', Buffer.concat([readImageFixture('photo.avif'), Buffer.from('<script>')]))).toMatchObject({ ending: 'truncated' });
  });

  test('a JPEG may carry data after its EOI (motion photos, MPF), and is complete', () => {
    const photo = readImageFixture('photo.jpg');
    const motionPhoto = Buffer.concat([photo, seededBytes(300_000)]);
    expect(walk('image/jpeg', motionPhoto, 65536)).toEqual({ ending: 'complete', problem: undefined, trailing: 300_000 });
  });

  test('an EOI inside an EXIF segment does not end the JPEG, though a tail check would be fooled by it', () => {
    const jpeg = padJpegHeader(readImageFixture('photo.jpg'), 300);
    const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
    const cut = jpeg.subarray(0, sos + 20);
    expect(cut.subarray(-1024).includes(Buffer.from([0xff, 0xd9]))).toBe(true);
    expect(walk('image/jpeg', cut, 3).ending).toBe('truncated');
    expect(walk('image/jpeg', jpeg, 3).ending).toBe('complete');
  });

  test('JPEG scan data: stuffed bytes, restart markers and fill bytes do not end it; EOI does', () => {
    const sos = [0xff, 0xda, 0x00, 0x08, 1, 1, 0, 0, 0x3f, 0];
    const scan = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd3, 0x56, 0xff, 0xff, 0xff, 0xd0, 0x78];
    const jpeg = Buffer.from([0xff, 0xd8, ...sos, ...scan, 0xff, 0xff, 0xd9]);
    for (const size of [1, 2, jpeg.length]) expect(walk('image/jpeg', jpeg, size).ending).toBe('complete');
    for (let cut = 0; cut < jpeg.length; cut++) expect(walk('image/jpeg', jpeg.subarray(0, cut)).ending).toBe('truncated');
  });

  test('ISO-BMFF: a 64-bit box size is followed, a size-0 last box runs to the end, a size below 8 is refused', () => {
    const avif = readImageFixture('photo.avif');
    const mdat = avif.indexOf('mdat') - 4;
    const largeMdat = Buffer.concat([avif.subarray(0, mdat), Buffer.from([0, 0, 0, 1]), Buffer.from('mdat'), Buffer.alloc(8), avif.subarray(mdat + 8)]);
    largeMdat.writeBigUInt64BE(BigInt(avif.length - mdat + 8), mdat + 8);
    expect(walk('image/avif', largeMdat, 5).ending).toBe('complete');
    expect(walk('image/avif', largeMdat.subarray(0, -1), 5).ending).toBe('truncated');

    const openMdat = Buffer.from(avif);
    openMdat.writeUInt32BE(0, mdat);
    expect(walk('image/avif', Buffer.concat([openMdat, Buffer.alloc(100)])).ending).toBe('complete');

    const broken = Buffer.from(avif);
    broken.writeUInt32BE(4, mdat);
    expect(walk('image/avif', broken).problem).toBe('AVIF box size out of range');
  });
});

function topLevelBoxEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  for (let at = 0; at < bytes.length; at += bytes.readUInt32BE(at)) ends.push(at);
  return ends;
}
