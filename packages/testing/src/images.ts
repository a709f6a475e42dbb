/**
 * Real image bytes for tests, made in code (no binary fixtures needed for the basics).
 * `makePng` writes a valid, complete PNG of any size: noisy pixels so it does not
 * compress to nothing, which lets tests make files of a chosen size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';

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
