import { crc32 } from 'node:zlib';
import { EXIF_HEADER, orientationOnlyExif, readExif } from './exif.js';
import { StreamEditor } from './stream-editor.js';

/** An eXIf chunk larger than this is dropped unread (orientation then reads as 1). */
const MAX_EXIF_CHUNK = 256 * 1024;
const TEXT_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt']);

/**
 * PNG: chunk by chunk. Text chunks (tEXt/zTXt/iTXt: comments, XMP, "Raw profile" IPTC/EXIF) and
 * tIME are left out; eXIf becomes an orientation-only eXIf. Everything else, colour chunks
 * (iCCP, sRGB, gAMA, cHRM, cICP) and image data included, is passed through unchanged.
 */
export class PngEditor extends StreamEditor {
  override readonly displaysOrientation = true;

  constructor() {
    super();
    this.pass(8); // signature, checked by the sniffer
    this.take(8, this.chunk);
  }

  private chunk = (b: Buffer): void => {
    const length = b.readUInt32BE(0);
    const type = b.toString('latin1', 4, 8);
    if (length > 0x7fffffff) {
      this.fail('PNG chunk length out of range');
      return;
    }
    if (TEXT_CHUNKS.has(type)) {
      // The keyword says what the text is (at most 79 bytes + NUL); the rest is dropped unread.
      const peek = Math.min(length, 20);
      this.take(peek, (k) => {
        this.removed.add(k.toString('latin1').startsWith('XML:com.adobe.xmp') ? 'xmp' : 'text');
        this.drop(length - peek + 4);
        this.take(8, this.chunk);
      });
    } else if (type === 'tIME') {
      this.removed.add('other');
      this.drop(length + 4);
      this.take(8, this.chunk);
    } else if (type === 'eXIf' && length <= MAX_EXIF_CHUNK) {
      const header = Buffer.from(b); // `b` is reused by the next take
      this.take(length + 4, (withCrc) => {
        this.exif(header, withCrc);
        this.take(8, this.chunk);
      });
    } else if (type === 'eXIf') {
      this.removed.add('exif');
      this.drop(length + 4);
      this.take(8, this.chunk);
    } else {
      this.keepTaken(b);
      this.pass(length + 4);
      if (type === 'IDAT') this.settled = true; // eXIf must come before the image data
      if (type === 'IEND') this.ended = true;
      else this.take(8, this.chunk);
    }
  };

  private exif(header: Buffer, withCrc: Buffer): void {
    const data = withCrc.subarray(0, withCrc.length - 4);
    const tiff = data.subarray(0, EXIF_HEADER.length).equals(EXIF_HEADER) ? data.subarray(EXIF_HEADER.length) : data;
    const exif = readExif(tiff);
    this.orientation = exif.orientation;
    if (exif.onlyOrientation) {
      this.emit(Buffer.concat([header, withCrc]));
      return;
    }
    this.removed.add('exif');
    if (exif.gps) this.removed.add('gps');
    if (exif.orientation !== 1) this.emit(pngChunk('eXIf', orientationOnlyExif(exif.orientation)));
  }
}

function crcOf(type: string, data: Buffer): Buffer {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(Buffer.from(type, 'latin1'))));
  return crc;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, Buffer.from(type, 'latin1'), data, crcOf(type, data)]);
}
