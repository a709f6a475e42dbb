import { EXIF_HEADER, orientationOnlyExif, readExif } from './exif.js';
import { StreamEditor } from './stream-editor.js';

const XMP_IDS = ['http://ns.adobe.com/xap/1.0/\0', 'http://ns.adobe.com/xmp/extension/\0'];

const startsWith = (b: Buffer, prefix: string | Buffer): boolean =>
  typeof prefix === 'string' ? b.toString('latin1', 0, prefix.length) === prefix : b.subarray(0, prefix.length).equals(prefix);

/**
 * JPEG: marker segments are walked by their lengths; APPn segments are read (each at most
 * 64 KiB) and kept only when they are needed to show the pixels right: JFIF (APP0), ICC profile
 * (APP2), Adobe colour transform (APP14); EXIF (APP1) becomes an orientation-only EXIF. XMP,
 * IPTC/Photoshop (APP13), MPF and vendor segments, comments and whatever follows the EOI
 * (motion-photo videos, appended images) are left out. Entropy-coded data is passed through,
 * scanned for the next marker with `indexOf`.
 */
export class JpegEditor extends StreamEditor {
  override readonly displaysOrientation = true;

  constructor() {
    super();
    this.pass(2); // SOI, checked by the sniffer
    this.take(1, this.seek);
  }

  /** Between segments; stray bytes before a marker are kept as they are (decoders skip them). */
  private seek = (b: Buffer): void => {
    if (b[0] === 0xff) this.take(1, this.marker);
    else {
      this.keepTaken(b);
      this.take(1, this.seek);
    }
  };

  private marker = (b: Buffer): void => this.onMarker(b[0]!);

  private onMarker(m: number): void {
    if (m === 0xff) {
      this.emit(Buffer.from([0xff])); // fill byte
      this.take(1, this.marker);
    } else if (m === 0xd9) {
      this.emit(Buffer.from([0xff, 0xd9]));
      this.ended = true;
    } else if (m === 0x00 || m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      this.emit(Buffer.from([0xff, m])); // no length field
      this.take(1, this.seek);
    } else {
      this.take(2, (l) => this.segment(m, l.readUInt16BE(0)));
    }
  }

  private segment(m: number, length: number): void {
    if (length < 2) {
      this.fail('JPEG segment length out of range');
      return;
    }
    const body = length - 2;
    const isApp = m >= 0xe0 && m <= 0xef;
    if (m === 0xfe) {
      this.removed.add('comment');
      this.drop(body);
      this.take(1, this.seek);
    } else if (isApp && ![0xe0, 0xe1, 0xe2, 0xed, 0xee].includes(m)) {
      this.removed.add('other');
      this.drop(body);
      this.take(1, this.seek);
    } else if (isApp) {
      this.take(body, (data) => {
        this.app(m, data);
        this.take(1, this.seek);
      });
    } else {
      this.emit(segmentHeader(m, length));
      this.pass(body);
      if (m === 0xda) {
        this.scanning = true; // SOS: entropy-coded data follows its header
        this.settled = true;
      }
      else this.take(1, this.seek);
    }
  }

  private app(m: number, data: Buffer): void {
    const keep = (): void => this.emit(Buffer.concat([segmentHeader(m, data.length + 2), data]));
    if (m === 0xe0 && startsWith(data, 'JFIF\0')) {
      keep();
      return;
    }
    if (m === 0xe2 && startsWith(data, 'ICC_PROFILE\0')) {
      keep();
      return;
    }
    if (m === 0xee && startsWith(data, 'Adobe')) {
      keep();
      return;
    }
    if (m === 0xe1 && startsWith(data, EXIF_HEADER)) {
      const exif = readExif(data.subarray(EXIF_HEADER.length));
      this.orientation = exif.orientation;
      if (exif.onlyOrientation) {
      keep();
      return;
    }
      this.removed.add('exif');
      if (exif.gps) this.removed.add('gps');
      if (exif.orientation !== 1) {
        const clean = Buffer.concat([EXIF_HEADER, orientationOnlyExif(exif.orientation)]);
        this.emit(Buffer.concat([segmentHeader(0xe1, clean.length + 2), clean]));
      }
      return;
    }
    if (m === 0xe1 && XMP_IDS.some((id) => startsWith(data, id))) this.removed.add('xmp');
    else if (m === 0xed) this.removed.add('iptc');
    else this.removed.add('other');
  }

  /**
   * Entropy-coded data: passed on, as one view per chunk, up to the next marker (0xFF followed
   * by anything but 0x00 or RSTn). A 0xFF that ends a chunk is decided on with the next one.
   */
  protected override scan(chunk: Buffer, from: number): number {
    let i = from;
    for (;;) {
      const j = chunk.indexOf(0xff, i);
      if (j === -1) {
        this.emit(chunk.subarray(from));
        return chunk.length;
      }
      const m = chunk[j + 1];
      if (m !== undefined && (m === 0x00 || (m >= 0xd0 && m <= 0xd7))) {
        i = j + 2;
        continue;
      }
      if (j > from) this.emit(chunk.subarray(from, j));
      this.scanning = false;
      this.take(1, this.afterFF);
      return j + 1;
    }
  }

  private afterFF = (b: Buffer): void => {
    const m = b[0]!;
    if (m === 0x00 || (m >= 0xd0 && m <= 0xd7)) {
      this.emit(Buffer.from([0xff, m])); // stuffed byte or restart marker: still entropy data
      this.scanning = true;
    } else {
      this.onMarker(m);
    }
  };
}

function segmentHeader(m: number, length: number): Buffer {
  const b = Buffer.from([0xff, m, 0, 0]);
  b.writeUInt16BE(length, 2);
  return b;
}
