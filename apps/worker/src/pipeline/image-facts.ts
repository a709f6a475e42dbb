/**
 * What the gallery and the near-duplicate search need to know about a stored image, from one
 * decode: a ThumbHash placeholder, a dominant colour and a 64-bit DCT perceptual hash.
 *
 * One libvips pipeline decodes the image with shrink-on-load (a JPEG is decoded at 1/2, 1/4 or
 * 1/8 scale when the target allows it), applies the EXIF orientation and hands back at most
 * 100×100 RGBA pixels; everything else is computed from those pixels in JS. `limitInputPixels`
 * is checked from the header, before libvips allocates anything (decompression bombs). Animated
 * GIF/WebP: the first frame (sharp's default `pages: 1`).
 */
import { rgbaToThumbHash } from 'thumbhash';

/**
 * sharp (libvips, ~9 MB of resident native code) is loaded with the first analysis, not when the
 * worker starts: a worker that analyses nothing (ANALYZE_IMAGES=false) never carries it.
 */
async function loadSharp(): Promise<(typeof import('sharp'))['default']> {
  const { default: sharp } = await import('sharp');
  // A worker decodes many unrelated images: libvips' operation cache would only hold memory.
  sharp.cache(false);
  return sharp;
}

export interface ImageFacts {
  /** ThumbHash, base64 (about 25–35 characters). */
  placeholder: string;
  /** `#rrggbb`. */
  dominantColor: string;
  /** 64-bit DCT pHash, 16 lower-case hex characters. */
  phash: string;
}

/** Why an image could not be analysed (never fails the asset; recorded on it). */
export class UndecodableImage extends Error {
  constructor(
    readonly code: 'too_many_pixels' | 'undecodable',
    message: string,
  ) {
    super(message);
    this.name = 'UndecodableImage';
  }
}

/** ThumbHash takes at most 100×100. */
const THUMB_MAX = 100;
/** pHash: a 32×32 grey image, of which the 8×8 lowest DCT frequencies make the 64 bits. */
const DCT_SIZE = 32;
const HASH_SIZE = 8;

export interface DecodedThumb {
  width: number;
  height: number;
  /** RGBA, row by row, not premultiplied. */
  rgba: Uint8Array;
}

/** The one decode: ≤100×100 RGBA, orientation applied. */
export async function decodeThumb(input: Buffer, maxPixels: number): Promise<DecodedThumb> {
  // Outside the try: a sharp that cannot load is the worker's fault, not the image's.
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(input, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .resize(THUMB_MAX, THUMB_MAX, { fit: 'inside', withoutEnlargement: true })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/pixel limit/i.test(message)) throw new UndecodableImage('too_many_pixels', `image exceeds ${maxPixels} pixels`);
    throw new UndecodableImage('undecodable', `image could not be decoded: ${message.slice(0, 200)}`);
  }
}

export async function analyzeImage(input: Buffer, maxPixels: number): Promise<ImageFacts> {
  return factsOf(await decodeThumb(input, maxPixels));
}

/** The JS half of the analysis (exported for the bench's bare-sharp baseline). */
export function factsOf(img: DecodedThumb): ImageFacts {
  return {
    placeholder: Buffer.from(rgbaToThumbHash(img.width, img.height, img.rgba)).toString('base64'),
    dominantColor: dominantColorOf(img),
    phash: phashOf(img),
  };
}

/**
 * The most populous colour: pixels are binned at 4 bits a channel (transparent ones weigh
 * less), and the winning bin's mean is the answer — a colour the image really has, unlike the
 * average of a two-tone picture.
 */
export function dominantColorOf({ width, height, rgba }: DecodedThumb): string {
  // Per bin: weight, then the weighted sums of r, g and b (4,096 bins × 4).
  const bins = new Float64Array(4096 * 4);
  let best = -1;
  for (let i = 0; i < width * height * 4; i += 4) {
    const a = rgba[i + 3]! / 255;
    if (a === 0) continue;
    const r = rgba[i]!;
    const g = rgba[i + 1]!;
    const b = rgba[i + 2]!;
    const at = (((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4)) * 4;
    bins[at] = bins[at]! + a;
    bins[at + 1] = bins[at + 1]! + r * a;
    bins[at + 2] = bins[at + 2]! + g * a;
    bins[at + 3] = bins[at + 3]! + b * a;
    if (best < 0 || bins[at]! > bins[best]!) best = at;
  }
  if (best < 0) return '#000000';
  const w = bins[best]!;
  const hex = (v: number) => Math.round(v / w).toString(16).padStart(2, '0');
  return `#${hex(bins[best + 1]!)}${hex(bins[best + 2]!)}${hex(bins[best + 3]!)}`;
}

/** cos((2x+1)uπ/2N) for the 8 lowest frequencies u over 32 samples x. */
const COS = Array.from({ length: HASH_SIZE }, (_, u) =>
  Float64Array.from({ length: DCT_SIZE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * DCT_SIZE))),
);

/** Luma of the image, area-averaged down to 32×32 (aspect ignored: a pHash compares pictures, not shapes). */
function grey32({ width, height, rgba }: DecodedThumb): Float64Array {
  const out = new Float64Array(DCT_SIZE * DCT_SIZE);
  for (let ty = 0; ty < DCT_SIZE; ty++) {
    const y0 = Math.floor((ty * height) / DCT_SIZE);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * height) / DCT_SIZE));
    for (let tx = 0; tx < DCT_SIZE; tx++) {
      const x0 = Math.floor((tx * width) / DCT_SIZE);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * width) / DCT_SIZE));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * width + x) * 4;
          // Transparent pixels count as white, as most viewers show them on a light page.
          const a = rgba[i + 3]! / 255;
          const luma = 0.299 * rgba[i]! + 0.587 * rgba[i + 1]! + 0.114 * rgba[i + 2]!;
          sum += luma * a + 255 * (1 - a);
        }
      }
      out[ty * DCT_SIZE + tx] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/**
 * DCT pHash: the 8×8 lowest frequencies of the 32×32 grey image's DCT-II, each bit set when
 * its coefficient is above their median. Bit 63 (the most significant) is coefficient (0,0).
 */
export function phashOf(img: DecodedThumb): string {
  const f = grey32(img);
  // Separable: rows first (32 rows × 8 frequencies), then columns.
  const rows = new Float64Array(DCT_SIZE * HASH_SIZE);
  for (let y = 0; y < DCT_SIZE; y++) {
    for (let u = 0; u < HASH_SIZE; u++) {
      let s = 0;
      const c = COS[u]!;
      for (let x = 0; x < DCT_SIZE; x++) s += f[y * DCT_SIZE + x]! * c[x]!;
      rows[y * HASH_SIZE + u] = s;
    }
  }
  const coeffs = new Float64Array(HASH_SIZE * HASH_SIZE);
  for (let v = 0; v < HASH_SIZE; v++) {
    const c = COS[v]!;
    for (let u = 0; u < HASH_SIZE; u++) {
      let s = 0;
      for (let y = 0; y < DCT_SIZE; y++) s += rows[y * HASH_SIZE + u]! * c[y]!;
      coeffs[v * HASH_SIZE + u] = s;
    }
  }
  const sorted = Float64Array.from(coeffs).sort();
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hash = 0n;
  for (const c of coeffs) hash = (hash << 1n) | (c > median ? 1n : 0n);
  return hash.toString(16).padStart(16, '0');
}

/** Hamming distance of two 16-hex pHashes. */
export function hammingDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  while (x) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}
