/**
 * Just enough TIFF/EXIF to keep the orientation and nothing else. Only IFD0 is read (no
 * offsets are followed, so a crafted file cannot make it loop or read outside the block).
 */

const ORIENTATION = 0x0112;
const GPS_IFD = 0x8825;

export interface ExifFacts {
  /** 1–8; 1 when absent or out of range. */
  orientation: number;
  /** IFD0 points at a GPS IFD. */
  gps: boolean;
  /** The block says nothing but the orientation (keeping it as it is strips nothing). */
  onlyOrientation: boolean;
}

/** `tiff` starts at the byte-order mark; a block that is not TIFF reads as "no orientation, not clean". */
export function readExif(tiff: Buffer): ExifFacts {
  const unknown: ExifFacts = { orientation: 1, gps: false, onlyOrientation: false };
  if (tiff.length < 8) return unknown;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return unknown;
  const le = order === 'II';
  const u16 = (at: number): number => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number): number => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  if (u16(2) !== 42) return unknown;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return unknown;
  const count = u16(ifd);
  const entries = Math.min(count, Math.floor((tiff.length - ifd - 2) / 12));
  let orientation = 1;
  let gps = false;
  for (let e = 0; e < entries; e++) {
    const at = ifd + 2 + e * 12;
    const tag = u16(at);
    if (tag === ORIENTATION && u16(at + 2) === 3) {
      const value = u16(at + 8);
      if (value >= 1 && value <= 8) orientation = value;
    } else if (tag === GPS_IFD) {
      gps = true;
    }
  }
  const nextAt = ifd + 2 + count * 12;
  const noNext = nextAt + 4 <= tiff.length && u32(nextAt) === 0;
  const onlyOrientation = count === 1 && entries === 1 && u16(ifd + 2) === ORIENTATION && noNext;
  return { orientation, gps, onlyOrientation };
}

/** A big-endian TIFF block with one IFD0 entry: Orientation. 26 bytes. */
export function orientationOnlyExif(orientation: number): Buffer {
  const b = Buffer.alloc(26);
  b.write('MM', 0, 'latin1');
  b.writeUInt16BE(42, 2);
  b.writeUInt32BE(8, 4);
  b.writeUInt16BE(1, 8); // one entry
  b.writeUInt16BE(ORIENTATION, 10);
  b.writeUInt16BE(3, 12); // SHORT
  b.writeUInt32BE(1, 14); // count
  b.writeUInt16BE(orientation, 18); // value, left-justified in the 4-byte field
  b.writeUInt32BE(0, 22); // no next IFD
  return b;
}

/** "Exif\0\0", the prefix of an EXIF APP1 segment (and, from some writers, of WebP/PNG EXIF data). */
export const EXIF_HEADER = Buffer.from('Exif\0\0', 'latin1');
