/**
 * Real image bytes for tests, made in code (no binary fixtures needed for the basics).
 * `makePng` writes a valid, complete PNG of any size: noisy pixels so it does not
 * compress to nothing, which lets tests make files of a chosen size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, crc32 as zlibCrc32 } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export interface MakePngOptions {
  /** Random pixels (incompressible) instead of a flat colour. @defaultValue true */
  noise?: boolean;
}

export function makePng(width: number, height: number, opts: MakePngOptions = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = width * 3 + 1;
  const raw = opts.noise === false ? Buffer.alloc(row * height, 0x80) : randomBytes(row * height);
  for (let y = 0; y < height; y++) raw[y * row] = 0; // filter type: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG of roughly `bytes` bytes (noise pixels, square-ish). */
export function makePngOfSize(bytes: number): Buffer {
  const side = Math.max(1, Math.floor(Math.sqrt(bytes / 3)));
  return makePng(side, side);
}

/** A PNG header claiming huge dimensions with a tiny body: a decompression bomb's shape. */
export function makePngBombHeader(width: number, height: number): Buffer {
  const small = makePng(1, 1, { noise: false });
  small.writeUInt32BE(width, 16);
  small.writeUInt32BE(height, 20);
  // fix the IHDR CRC so the header itself is well-formed
  small.writeUInt32BE(crc32(small.subarray(12, 29)), 29);
  return small;
}

/** A minimal valid 1x1 GIF. */
export const TINY_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==', 'base64');

export const sha256 = (buf: Uint8Array): string => createHash('sha256').update(buf).digest('hex');

/**
 * A one-frame animated PNG (acTL + fcTL before IDAT), what file-type reports as image/apng.
 * Any PNG decoder shows it as the still image it also is.
 */
export function makeApng(width: number, height: number): Buffer {
  const png = makePng(width, height, { noise: false });
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(1, 0); // frames
  const fctl = Buffer.alloc(26);
  fctl.writeUInt32BE(width, 4);
  fctl.writeUInt32BE(height, 8);
  fctl.writeUInt16BE(1, 20); // delay 1/10 s
  fctl.writeUInt16BE(10, 22);
  const afterIhdr = 8 + 25;
  return Buffer.concat([png.subarray(0, afterIhdr), chunk('acTL', actl), chunk('fcTL', fctl), png.subarray(afterIhdr)]);
}

/**
 * `jpeg` with about `bytes` of extra APP segments before its frame header, as cameras write
 * EXIF/ICC/XMP blocks: the first looks like EXIF holding a thumbnail (its own SOI … EOI), so a
 * parser that scans for markers instead of walking segments is caught out. Moves the SOF
 * (the dimensions) beyond `bytes`.
 */
export function padJpegHeader(jpeg: Buffer, bytes: number): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG');
  const segments: Buffer[] = [];
  for (let left = bytes, n = 0; left > 0; n++) {
    const payload = Math.min(left, 65533);
    const seg = Buffer.alloc(4 + payload, 0x20);
    seg.writeUInt16BE(0xffe1 + (n % 14), 0); // APP1..APP14
    seg.writeUInt16BE(payload + 2, 2);
    if (n === 0 && payload >= 16) {
      seg.write('Exif\0\0', 4, 'latin1');
      Buffer.from([0xff, 0xd8, 0xff, 0xd9]).copy(seg, 10); // an embedded "thumbnail"
    }
    segments.push(seg);
    left -= payload;
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/** Folder of the small real images in packages/testing/fixtures/images (see its README). */
export const IMAGE_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/images/', import.meta.url));

export const readImageFixture = (name: string): Buffer => readFileSync(join(IMAGE_FIXTURES_DIR, name));

/**
 * A valid noise PNG of any size, generated chunk by chunk so a test can stream hundreds of MB
 * without holding them: 8-bit greyscale rows in stored (uncompressed) deflate blocks, one IDAT
 * per block. Yields about 64 KiB at a time.
 */
export function* streamNoisePng(width: number, height: number): Generator<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (greyscale)
  yield Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), fastChunk('IHDR', ihdr)]);
  const row = width + 1;
  const total = row * height;
  let a = 1;
  let b = 0; // Adler-32 of the raw rows
  let first = true;
  for (let offset = 0; offset < total; ) {
    const n = Math.min(65535, total - offset);
    const raw = randomBytes(n);
    for (let p = (row - (offset % row)) % row; p < n; p += row) raw[p] = 0; // filter byte: none
    for (let i = 0; i < n; i += 3800) {
      // 3800 bytes keep the sums below 2^53 between reductions
      const end = Math.min(n, i + 3800);
      for (let j = i; j < end; j++) {
        a += raw[j]!;
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    offset += n;
    const last = offset === total;
    const head = Buffer.alloc(5);
    head[0] = last ? 1 : 0; // BFINAL, BTYPE=00 (stored)
    head.writeUInt16LE(n, 1);
    head.writeUInt16LE(~n & 0xffff, 3);
    const parts = [first ? Buffer.from([0x78, 0x01]) : Buffer.alloc(0), head, raw];
    if (last) {
      const adler = Buffer.alloc(4);
      adler.writeUInt32BE(((b << 16) | a) >>> 0);
      parts.push(adler);
    }
    first = false;
    yield fastChunk('IDAT', Buffer.concat(parts));
  }
  yield fastChunk('IEND', Buffer.alloc(0));
}

function fastChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlibCrc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode): noise that cannot flake. */
export function seededBytes(length: number, seed = 'rehost'): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0, n = 0; i < length; n++) {
    i += createHash('sha256').update(`${seed}:${n}`).digest().copy(out, i);
  }
  return out;
}
