import { EXIF_HEADER, orientationOnlyExif, readExif } from './exif.js';
import { StreamEditor } from './stream-editor.js';

/** An EXIF chunk larger than this is blanked unread (orientation then reads as 1). */
const MAX_EXIF_CHUNK = 256 * 1024;

/**
 * WebP (RIFF): the file's length is written in its first bytes, before the EXIF and XMP chunks
 * that come last, so a one-pass rewriter cannot shorten the file. Removed chunks are therefore
 * blanked in place, keeping every length: EXIF becomes an orientation-only EXIF padded with zeros,
 * XMP becomes a zero-filled `JUNK` chunk (RIFF's padding chunk; WebP readers skip unknown chunks),
 * and the VP8X flags stop announcing XMP. Nothing of the removed values remains.
 */
export class WebpEditor extends StreamEditor {
  constructor() {
    super();
    this.pass(12); // RIFF header; the walker checks its size
    this.take(8, this.chunk);
  }

  private chunk = (b: Buffer): void => {
    const fourcc = b.toString('latin1', 0, 4);
    const size = b.readUInt32LE(4);
    const padded = size + (size & 1);
    if (fourcc === 'VP8X' && size >= 10) {
      const header = Buffer.from(b);
      this.take(10, (v) => {
        const flags = Buffer.from(v);
        flags[0]! &= ~0x04; // XMP
        this.emit(header);
        this.emit(flags);
        this.pass(padded - 10);
        this.take(8, this.chunk);
      });
    } else if (fourcc === 'EXIF' && size <= MAX_EXIF_CHUNK) {
      const header = Buffer.from(b);
      this.take(padded, (data) => {
        this.exif(header, data, size);
        this.take(8, this.chunk);
      });
    } else if (fourcc === 'EXIF' || fourcc === 'XMP ') {
      this.removed.add(fourcc === 'EXIF' ? 'exif' : 'xmp');
      this.blank(fourcc === 'EXIF' && size >= 26 ? 'EXIF' : 'JUNK', size, fourcc === 'EXIF' ? orientationOnlyExif(1) : undefined);
      this.drop(padded);
      this.take(8, this.chunk);
    } else {
      this.keepTaken(b);
      this.pass(padded);
      this.take(8, this.chunk);
    }
  };

  private exif(header: Buffer, padded: Buffer, size: number): void {
    const data = padded.subarray(0, size);
    const tiff = data.subarray(0, EXIF_HEADER.length).equals(EXIF_HEADER) ? data.subarray(EXIF_HEADER.length) : data;
    const exif = readExif(tiff);
    this.orientation = exif.orientation;
    if (exif.onlyOrientation) {
      this.emit(Buffer.concat([header, padded]));
      return;
    }
    this.removed.add('exif');
    if (exif.gps) this.removed.add('gps');
    // Under 26 bytes there is no room for an orientation entry (nor for much else).
    if (size >= 26) this.blank('EXIF', size, orientationOnlyExif(exif.orientation));
    else this.blank('JUNK', size);
  }

  /** Emits a chunk of `size` bytes (plus RIFF padding): `content`, then zeros, a slice at a time. */
  private blank(fourcc: string, size: number, content: Buffer = Buffer.alloc(0)): void {
    const header = Buffer.alloc(8);
    header.write(fourcc, 0, 'latin1');
    header.writeUInt32LE(size, 4);
    const head = content.length <= size ? content : Buffer.alloc(0);
    this.emit(Buffer.concat([header, head]));
    for (let left = size + (size & 1) - head.length; left > 0; left -= ZEROS.length) {
      this.emit(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
    }
  }
}

const ZEROS = Buffer.alloc(64 * 1024);
