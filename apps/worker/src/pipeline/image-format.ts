/**
 * What verify-image needs to know about each accepted format: how to recognise it from its
 * first bytes, where its dimensions are, and how to tell, as bytes stream past, whether the
 * file is complete. The stream mechanics (limits, hashing, backpressure) live in verify-image.ts.
 */
import { ALLOWED_IMAGE_TYPES, EXTENSION_FOR_TYPE, errors, type ImageType } from '@rehost/jobs';
import { imageSize } from 'image-size';

/** file-type looks at no more than this many leading bytes for the formats we accept. */
export const SNIFF_BYTES = 4100;

/**
 * file-type calls an animated PNG `image/apng`, but APNG is a PNG that every PNG decoder reads
 * (its first frame is the IDAT image), and it is served as `image/png`; refusing it would turn
 * away ordinary animated stickers.
 */
const MIME_ALIASES: Record<string, ImageType> = { 'image/apng': 'image/png' };

/**
 * file-type (with strtok3 and its tokenizers, ~0.6 MB of heap) is loaded at the first image, not
 * at start: an idle worker, or one that only runs maintenance and webhooks, never needs it.
 */
let fileType: Promise<typeof import('file-type')> | undefined;
const loadFileType = () => (fileType ??= import('file-type'));

/** The type by magic bytes. Everything that is not one of the allowed types is `not_an_image`. */
export async function sniffImageType(head: Uint8Array): Promise<ImageType> {
  if (head.length === 0) throw errors.notAnImage('the file is empty');
  const { fileTypeFromBuffer } = await loadFileType();
  const found = await fileTypeFromBuffer(head);
  if (!found) throw errors.notAnImage('unrecognised format');
  const type = MIME_ALIASES[found.mime] ?? found.mime;
  if (!(ALLOWED_IMAGE_TYPES as readonly string[]).includes(type)) throw errors.notAnImage(`${found.mime} is not accepted`);
  return type as ImageType;
}

/**
 * PNG, GIF and WebP keep their dimensions in the first 30 bytes; JPEG (SOF after EXIF/ICC/XMP
 * segments, which can be hundreds of KB) and AVIF (`ispe` inside `meta`, which may follow other
 * boxes) can need many more, so only these are worth buffering further for.
 */
export const DIMENSIONS_MAY_BE_LATE: ReadonlySet<ImageType> = new Set(['image/jpeg', 'image/avif']);

/** image-size's names for the parsers that may answer for each type (AVIF may carry the generic HEIF brand). */
const SIZE_PARSERS: Record<ImageType, readonly string[]> = {
  'image/jpeg': ['jpg'],
  'image/png': ['png'],
  'image/gif': ['gif'],
  'image/webp': ['webp'],
  'image/avif': ['avif', 'heif'],
};

/**
 * Dimensions from a prefix of the file, or undefined when the prefix does not (yet) hold them.
 * image-size throws when it runs off the end of its input; on a prefix that means "read more".
 */
export function readDimensions(head: Uint8Array, type: ImageType): { width: number; height: number } | undefined {
  // image-size reads through a DataView over the whole ArrayBuffer, so on a view into a larger
  // (say, pooled) buffer it would read past the prefix's end instead of failing: give it its own.
  const exact = head.byteOffset === 0 && head.byteLength === head.buffer.byteLength ? head : new Uint8Array(head);
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(exact);
  } catch {
    return undefined;
  }
  // The magic bytes said one thing and image-size's own detector another (say, a "GIF" that
  // parses as SVG): a crafted file, whose dimensions mean nothing.
  if (!SIZE_PARSERS[type].includes(size.type ?? '')) {
    throw errors.notAnImage(`${EXTENSION_FOR_TYPE[type]} signature but a ${size.type ?? 'unknown'} header`);
  }
  return { width: size.width, height: size.height };
}

/** How a file ended, judged from its structure. */
export type Ending = 'complete' | 'truncated';

/**
 * Follows a format's structure as bytes stream by: it skips over payloads by their declared
 * lengths and copies only the few header bytes it must read (never more than 16), so it costs
 * O(1) per chunk on large payloads and holds no file data.
 * A subclass says what to do next with `read(n, step)` (collect n bytes, then call step),
 * by setting `skip` (pass over bytes first), `end()` (the format's last byte is reached once
 * `skip` runs out) and `fail()`.
 */
export abstract class StructureWalker {
  /** Set when the structure cannot be valid; the stream is refused at once. */
  problem: string | undefined;
  /** Bytes that came after the format's end. */
  trailing = 0;
  protected skip = 0;
  protected ended = false;
  /** While true, `scan` looks at the bytes instead of `read` (JPEG entropy-coded data). */
  protected scanning = false;
  private want = 0;
  private have = 0;
  private step: (bytes: Buffer) => void = () => {};
  private readonly got = Buffer.alloc(16);

  /** Whether bytes after the end are tolerated (JPEG) or refused (the others). */
  protected abstract readonly allowsTrailing: boolean;
  abstract readonly name: string;

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.problem === undefined) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
      } else if (this.ended) {
        this.trailing += chunk.length - i;
        if (!this.allowsTrailing) this.fail(`data after the end of the ${this.name} image`);
        return;
      } else if (this.scanning) {
        i = this.scan(chunk, i);
      } else {
        const n = Math.min(this.want - this.have, chunk.length - i);
        chunk.copy(this.got, this.have, i, i + n);
        this.have += n;
        i += n;
        if (this.have === this.want) {
          this.have = 0;
          this.step(this.got.subarray(0, this.want));
        }
      }
    }
  }

  /** Called once the source has ended. */
  ending(): Ending {
    return this.ended && this.skip === 0 ? 'complete' : 'truncated';
  }

  protected read(n: number, step: (bytes: Buffer) => void): void {
    this.want = n;
    this.step = step;
  }

  protected end(): void {
    this.ended = true;
  }

  protected fail(problem: string): void {
    this.problem = problem;
  }

  protected scan(chunk: Buffer, _from: number): number {
    return chunk.length;
  }

  /** Bytes collected towards the next `read` (non-zero means EOF fell inside a header). */
  protected get partial(): number {
    return this.have;
  }
}

/** Chunks (length, type, data, CRC) until IEND; the file must end right after it. */
class PngWalker extends StructureWalker {
  readonly name = 'PNG';
  protected readonly allowsTrailing = false;
  constructor() {
    super();
    this.skip = 8; // signature, already checked by the sniffer
    this.read(8, this.chunk);
  }
  private chunk = (b: Buffer): void => {
    const length = b.readUInt32BE(0);
    if (length > 0x7fffffff) {
      this.fail('PNG chunk length out of range');
    } else {
      this.skip = length + 4; // data + CRC
      if (b.toString('latin1', 4, 8) === 'IEND') this.end();
      else this.read(8, this.chunk);
    }
  };
}

/** GIF blocks until the 0x3B trailer; a walk is not fooled by a 0x3B that happens to be the last byte of a cut file. */
class GifWalker extends StructureWalker {
  readonly name = 'GIF';
  protected readonly allowsTrailing = false;
  constructor() {
    super();
    this.read(13, (b) => {
      this.skip = colourTableBytes(b[10]!); // global colour table
      this.read(1, this.block);
    });
  }
  private block = (b: Buffer): void => {
    const introducer = b[0]!;
    if (introducer === 0x21) {
      this.read(1, this.subBlocks); // extension: label, then sub-blocks
    } else if (introducer === 0x2c) {
      // image: descriptor, local colour table, LZW code size, then sub-blocks
      this.read(9, (d) => {
        this.skip = colourTableBytes(d[8]!);
        this.read(1, this.subBlocks);
      });
    } else if (introducer === 0x3b) {
      this.end();
    } else {
      this.fail(`unknown GIF block 0x${introducer.toString(16)}`);
    }
  };
  private subBlocks = (): void => this.read(1, this.subBlock);
  private subBlock = (b: Buffer): void => {
    if (b[0] === 0) {
      this.read(1, this.block);
    } else {
      this.skip = b[0]!;
      this.read(1, this.subBlock);
    }
  };
}

const colourTableBytes = (packed: number): number => (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);

/** RIFF header: the file is exactly the RIFF size + 8 bytes. */
class WebpWalker extends StructureWalker {
  readonly name = 'WebP';
  protected readonly allowsTrailing = false;
  constructor() {
    super();
    this.read(12, (b) => {
      const riffSize = b.readUInt32LE(4); // counts from byte 8, so includes the 4 bytes of "WEBP"
      if (riffSize < 4) {
        this.fail('WebP RIFF size too small');
      } else {
        this.skip = riffSize - 4;
        this.end();
      }
    });
  }
}

/** ISO-BMFF (AVIF): top-level boxes must tile the file exactly. */
class BoxWalker extends StructureWalker {
  readonly name = 'AVIF';
  protected readonly allowsTrailing = false;
  /** A last box of size 0 runs to the end of the file: whatever the length, it cannot be shown short. */
  private openEnded = false;
  constructor() {
    super();
    this.read(8, this.box);
  }
  private box = (b: Buffer): void => {
    const size = b.readUInt32BE(0);
    if (size === 1) {
      this.read(8, (l) => this.next(Number(l.readBigUInt64BE(0)), 16)); // 64-bit size follows the type
    } else if (size === 0) {
      this.openEnded = true;
      this.skip = Number.POSITIVE_INFINITY;
    } else {
      this.next(size, 8);
    }
  };
  private next(size: number, headerBytes: number): void {
    if (size < headerBytes) {
      this.fail('AVIF box size out of range');
    } else {
      this.skip = size - headerBytes;
      this.read(8, this.box);
    }
  }
  override ending(): Ending {
    return this.openEnded || (this.skip === 0 && this.partial === 0) ? 'complete' : 'truncated';
  }
}

/**
 * JPEG: walks marker segments by their lengths (so an EOI inside an EXIF thumbnail is skipped)
 * and scans entropy-coded data for the next real marker (0xFF followed by anything but 0x00 or
 * RSTn) with `indexOf`, which runs at memchr speed.
 * Bytes after the EOI are accepted: phones append them routinely (Samsung trailers, Google and
 * Samsung motion photos append an MP4 of several MB, MPF files append further JPEGs), so a
 * "FF D9 within the last N bytes" check would call those truncated. The structural walk still
 * refuses a file cut anywhere before the primary image's EOI.
 */
class JpegWalker extends StructureWalker {
  readonly name = 'JPEG';
  protected readonly allowsTrailing = true;
  private afterFF = false;
  constructor() {
    super();
    this.skip = 2; // SOI, already checked by the sniffer
    this.read(1, this.seek);
  }
  /** Between segments: libjpeg skips stray bytes before a marker, so do we. */
  private seek = (b: Buffer): void => this.read(1, b[0] === 0xff ? this.marker : this.seek);
  private marker = (b: Buffer): void => this.onMarker(b[0]!);
  private onMarker(m: number): void {
    if (m === 0xff) {
      this.read(1, this.marker); // fill byte
    } else if (m === 0xd9) {
      this.end(); // EOI
    } else if (m === 0x00 || m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      this.read(1, this.seek); // no length field
    } else {
      this.read(2, (b) => {
        const length = b.readUInt16BE(0);
        if (length < 2) {
          this.fail('JPEG segment length out of range');
        } else {
          this.skip = length - 2;
          if (m === 0xda) this.scanning = true; // SOS: entropy-coded data follows its header
          else this.read(1, this.seek);
        }
      });
    }
  }
  protected override scan(chunk: Buffer, from: number): number {
    let i = from;
    while (i < chunk.length) {
      if (!this.afterFF) {
        const j = chunk.indexOf(0xff, i);
        if (j === -1) return chunk.length;
        this.afterFF = true;
        i = j + 1;
        continue;
      }
      const m = chunk[i++]!;
      if (m === 0xff) continue; // fill
      this.afterFF = false;
      if (m === 0x00 || (m >= 0xd0 && m <= 0xd7)) continue; // stuffed 0xFF or restart marker: still scan data
      this.scanning = false;
      this.onMarker(m);
      return i;
    }
    return i;
  }
}

export function structureWalker(type: ImageType): StructureWalker {
  switch (type) {
    case 'image/png':
      return new PngWalker();
    case 'image/gif':
      return new GifWalker();
    case 'image/webp':
      return new WebpWalker();
    case 'image/avif':
      return new BoxWalker();
    case 'image/jpeg':
      return new JpegWalker();
  }
}
