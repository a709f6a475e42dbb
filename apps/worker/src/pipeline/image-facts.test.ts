import { describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { thumbHashToApproximateAspectRatio, thumbHashToAverageRGBA } from 'thumbhash';
import { makePngBombHeader, readImageFixture } from '@rehost/testing';
import { analyzeImage, hammingDistance, UndecodableImage } from './image-facts.js';
import { scenePng, twinsOf } from './image-fixtures.js';

const MAX_PIXELS = 100_000_000;

describe('image facts', () => {
  it('the same picture as PNG, JPEG q70, half size and EXIF-rotated lands within distance 8', async () => {
    const png = await scenePng(1);
    const twins = await twinsOf(png);
    expect((await sharp(twins.exifRotated).metadata()).orientation).toBe(6);
    const hashes = [png, twins.jpegQ70, twins.half, twins.exifRotated];
    const facts = await Promise.all(hashes.map((b) => analyzeImage(b, MAX_PIXELS)));
    for (const f of facts) expect(f.phash).toMatch(/^[0-9a-f]{16}$/);
    const distances: number[] = [];
    for (let i = 0; i < facts.length; i++) {
      for (let j = i + 1; j < facts.length; j++) distances.push(hammingDistance(facts[i]!.phash, facts[j]!.phash));
    }
    expect(Math.max(...distances)).toBeLessThanOrEqual(8);
  });

  it('ten different pictures are pairwise at least 20 apart', async () => {
    const facts = await Promise.all(Array.from({ length: 10 }, async (_, i) => analyzeImage(await scenePng(100 + i), MAX_PIXELS)));
    let min = 64;
    for (let i = 0; i < facts.length; i++) {
      for (let j = i + 1; j < facts.length; j++) min = Math.min(min, hammingDistance(facts[i]!.phash, facts[j]!.phash));
    }
    expect(min).toBeGreaterThanOrEqual(20);
  });

  it('the placeholder decodes back to the aspect ratio and average colour of the image', async () => {
    const png = await scenePng(7, 800, 400);
    const { placeholder } = await analyzeImage(png, MAX_PIXELS);
    const hash = Buffer.from(placeholder, 'base64');
    expect(placeholder.length).toBeLessThanOrEqual(48);
    expect(thumbHashToApproximateAspectRatio(hash)).toBeCloseTo(2, 0);
    const avg = thumbHashToAverageRGBA(hash);
    const { channels } = await sharp(png).stats();
    const [r, g, b] = channels.map((c) => c.mean / 255);
    expect(Math.abs(avg.r - r!)).toBeLessThan(0.08);
    expect(Math.abs(avg.g - g!)).toBeLessThan(0.08);
    expect(Math.abs(avg.b - b!)).toBeLessThan(0.08);
  });

  it('the dominant colour is the colour most of the image has', async () => {
    // Three quarters red, one quarter blue.
    const img = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#d02010' } })
      .composite([{ input: { create: { width: 20, height: 20, channels: 3, background: '#1030c0' } }, left: 0, top: 0 }])
      .png()
      .toBuffer();
    expect((await analyzeImage(img, MAX_PIXELS)).dominantColor).toBe('#d02010');
  });

  it('a decompression bomb is refused by the pixel limit, from its header', async () => {
    const bomb = makePngBombHeader(30_000, 30_000);
    const started = process.memoryUsage().rss;
    const err = await analyzeImage(bomb, MAX_PIXELS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndecodableImage);
    expect((err as UndecodableImage).code).toBe('too_many_pixels');
    // 900 M pixels would be 2.7 GB of RGB: nothing near that was allocated.
    expect(process.memoryUsage().rss - started).toBeLessThan(200 * 1024 * 1024);
  });

  it('bytes that are not an image are undecodable, not an exception of another kind', async () => {
    const err = await analyzeImage(Buffer.from('not an image at all'), MAX_PIXELS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndecodableImage);
    expect((err as UndecodableImage).code).toBe('undecodable');
  });

  it('an animated GIF and an animated WebP are hashed by their first frame', async () => {
    const first = await sharp(await scenePng(21, 200, 150)).raw().toBuffer({ resolveWithObject: true });
    const second = await sharp(await scenePng(22, 200, 150)).raw().toBuffer({ resolveWithObject: true });
    const strip = Buffer.concat([first.data, second.data]);
    const animGif = await animated(strip, first.info.channels, 'gif');
    const animWebp = await animated(strip, first.info.channels, 'webp');
    expect((await sharp(animGif).metadata()).pages).toBe(2);
    expect((await sharp(animWebp).metadata()).pages).toBe(2);
    const ref = await analyzeImage(await scenePng(21, 200, 150), MAX_PIXELS);
    const other = await analyzeImage(await scenePng(22, 200, 150), MAX_PIXELS);
    for (const anim of [animGif, animWebp]) {
      const facts = await analyzeImage(anim, MAX_PIXELS);
      expect(hammingDistance(facts.phash, ref.phash)).toBeLessThanOrEqual(8);
      expect(hammingDistance(facts.phash, other.phash)).toBeGreaterThan(12);
    }
  });

  it('every committed fixture format decodes (JPEG, PNG, WebP, GIF, AVIF)', async () => {
    for (const name of ['photo.jpg', 'photo.png', 'lossy.webp', 'alpha.webp', 'animated.gif', 'photo.avif', 'progressive.jpg']) {
      const facts = await analyzeImage(await readImageFixture(name), MAX_PIXELS);
      expect(facts.dominantColor).toMatch(/^#[0-9a-f]{6}$/);
    }
  });
});

/** Two 200×150 frames stacked in `strip`, written as a two-page animation. */
async function animated(strip: Buffer, channels: 1 | 2 | 3 | 4, format: 'gif' | 'webp'): Promise<Buffer> {
  const img = sharp(strip, { raw: { width: 200, height: 300, channels, pageHeight: 150 } as never });
  return format === 'gif' ? img.gif({ loop: 0 }).toBuffer() : img.webp({ loop: 0, quality: 90 }).toBuffer();
}
