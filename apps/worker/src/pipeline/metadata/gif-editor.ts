import { StreamEditor } from './stream-editor.js';

/** Application extensions that carry animation or colour, not metadata. */
const KEPT_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0', 'ICCRGBG1012']);

/**
 * GIF: block by block. Comment extensions and application extensions other than looping
 * (NETSCAPE2.0/ANIMEXTS1.0) and the ICC profile are left out — XMP is one ("XMP DataXMP").
 * Image data, graphic control and plain-text extensions pass through unchanged.
 */
export class GifEditor extends StreamEditor {
  constructor() {
    super();
    this.settled = true; // GIF has no orientation
    this.take(13, (b) => {
      this.keepTaken(b);
      this.pass(colourTableBytes(b[10]!));
      this.take(1, this.block);
    });
  }

  private block = (b: Buffer): void => {
    const introducer = b[0]!;
    if (introducer === 0x21) {
      this.take(1, (l) => this.extension(l[0]!));
    } else if (introducer === 0x2c) {
      // image: descriptor, local colour table, LZW code size, then sub-blocks
      this.take(9, (d) => {
        this.emit(Buffer.concat([Buffer.from([0x2c]), d]));
        this.pass(colourTableBytes(d[8]!));
        this.take(1, (c) => {
          this.emit(Buffer.from(c));
          this.subBlocks(true);
        });
      });
    } else if (introducer === 0x3b) {
      this.emit(Buffer.from([0x3b]));
      this.ended = true;
    } else {
      this.fail(`unknown GIF block 0x${introducer.toString(16)}`);
    }
  };

  private extension(label: number): void {
    if (label === 0xfe) {
      this.removed.add('comment');
      this.subBlocks(false);
    } else if (label === 0xff) {
      this.take(1, (s) => {
        const size = s[0]!;
        if (size === 0) {
      this.fail('empty GIF application extension');
      return;
    }
        this.take(size, (id) => {
          const keep = KEPT_APPLICATIONS.has(id.toString('latin1'));
          if (keep) this.emit(Buffer.concat([Buffer.from([0x21, 0xff, size]), id]));
          else this.removed.add(id.toString('latin1') === 'XMP DataXMP' ? 'xmp' : 'other');
          this.subBlocks(keep);
        });
      });
    } else {
      this.emit(Buffer.from([0x21, label]));
      this.subBlocks(true);
    }
  }

  /** Data sub-blocks up to the empty one, kept or dropped; then the next block. */
  private subBlocks(keep: boolean): void {
    this.take(1, (s) => {
      const size = s[0]!;
      if (keep) this.emit(Buffer.from([size]));
      if (size === 0) {
      this.take(1, this.block);
      return;
    }
      if (keep) this.pass(size);
      else this.drop(size);
      this.subBlocks(keep);
    });
  }
}

const colourTableBytes = (packed: number): number => (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);
