/**
 * The mechanics every metadata editor shares: bytes stream in, and a format's editor says, at
 * each point of its structure, whether the next bytes are passed on untouched (`pass`), left
 * out (`drop`), or collected to be looked at first (`take`: only headers and metadata blocks,
 * each with a fixed upper bound, never image data). Passed bytes are handed on as views of the
 * incoming chunks, so image data is never copied and memory stays flat whatever the file size.
 */

/** Kinds of metadata that can be removed; what is recorded per asset (never the values). */
export const METADATA_KINDS = ['exif', 'gps', 'xmp', 'iptc', 'comment', 'text', 'trailing', 'other'] as const;
export type MetadataKind = (typeof METADATA_KINDS)[number];

export type Emit = (bytes: Buffer) => void;

export abstract class StreamEditor {
  /** What this file carried that the output leaves out. */
  readonly removed = new Set<MetadataKind>();
  /** EXIF orientation (1–8) as the file states it; 1 when absent. */
  orientation = 1;
  /**
   * Whether browsers turn this format by its EXIF orientation: JPEG and PNG (eXIf) yes; WebP no
   * (Chromium shows a WebP as stored, whatever its EXIF says); GIF and AVIF carry none.
   */
  readonly displaysOrientation: boolean = false;
  /**
   * The orientation can no longer change (it is stated before the image data in JPEG and PNG):
   * a reader that wants only the orientation (METADATA_POLICY=keep) may stop feeding the editor.
   */
  settled = false;
  /** Set when the structure cannot be edited safely; the stream is refused. */
  problem: string | undefined;
  /** Input bytes consumed so far (file offset of the next byte). */
  protected position = 0;
  /** Past the image's end: everything else is trailing data and is left out. */
  protected ended = false;
  /** While true, `scan` decides what the bytes are (JPEG entropy-coded data, AVIF mdat). */
  protected scanning = false;
  /** Where `push` hands bytes on; `pending` holds the last piece while the next may adjoin it. */
  private sink: Emit = () => {};
  private pending: Buffer | undefined;
  private passing = 0;
  private dropping = 0;
  private want = 0;
  private have = 0;
  private got: Buffer = Buffer.alloc(0);
  private step: (bytes: Buffer) => void = () => {};
  /** The chunk, and where in it, the bytes being taken began. */
  private takeChunk: Buffer | undefined;
  private takeFrom = 0;
  /** During a `take`'s step: the taken bytes as a view of their chunk, if they arrived in one. */
  private takenView: Buffer | undefined;

  /**
   * Feeds `chunk`; what is kept goes to `emit` before this returns, adjacent pieces of one chunk
   * as one (a view per segment would make a consumer that reads through an async iterator, as
   * lib-storage does, join them: one more copy of every byte).
   */
  push(chunk: Buffer, emit: Emit): void {
    this.sink = emit;
    try {
      this.feed(chunk);
    } finally {
      this.flush();
    }
  }

  /** Hands `bytes` on (once `push` returns, joined with the pieces it adjoins in memory). */
  protected emit(bytes: Buffer): void {
    const last = this.pending;
    if (last && bytes.buffer === last.buffer && bytes.byteOffset === last.byteOffset + last.length) {
      this.pending = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
      return;
    }
    this.flush();
    this.pending = bytes;
  }

  private flush(): void {
    const piece = this.pending;
    this.pending = undefined;
    if (piece) this.sink(piece);
  }

  private feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.problem === undefined) {
      const before = i;
      if (this.passing > 0) {
        const n = Math.min(this.passing, chunk.length - i);
        this.emit(chunk.subarray(i, i + n));
        this.passing -= n;
        i += n;
      } else if (this.dropping > 0) {
        const n = Math.min(this.dropping, chunk.length - i);
        this.dropping -= n;
        i += n;
      } else if (this.ended) {
        this.removed.add('trailing');
        i = chunk.length;
      } else if (this.scanning) {
        i = this.scan(chunk, i);
      } else {
        if (this.have === 0) {
          this.takeChunk = chunk;
          this.takeFrom = i;
        }
        const n = Math.min(this.want - this.have, chunk.length - i);
        chunk.copy(this.got, this.have, i, i + n);
        this.have += n;
        i += n;
        if (this.have === this.want) {
          this.have = 0;
          this.position += i - before;
          this.takenView = this.takeChunk === chunk ? chunk.subarray(this.takeFrom, i) : undefined;
          this.takeChunk = undefined;
          this.step(this.got.subarray(0, this.want));
          this.takenView = undefined;
          continue;
        }
      }
      this.position += i - before;
    }
  }

  /** Once the input has ended: a reason the output is not clean after all, if there is one. */
  finish(): string | undefined {
    return undefined;
  }

  /** Copy `n` bytes through unchanged. */
  protected pass(n: number): void {
    this.passing += n;
  }

  /**
   * Hands on the bytes just taken (`b`, the step's argument), unchanged: as a view of the chunk
   * they arrived in when they came in one — so that they join the pieces around them — else as a
   * copy (`b` is reused by the next take).
   */
  protected keepTaken(b: Buffer): void {
    this.emit(this.takenView ?? Buffer.from(b));
  }

  /** Leave `n` bytes out. */
  protected drop(n: number): void {
    this.dropping += n;
  }

  /** Collect `n` bytes (n ≤ the caller's own bound), then call `step` with them. */
  protected take(n: number, step: (bytes: Buffer) => void): void {
    if (this.got.length < n) this.got = Buffer.alloc(Math.max(n, 16));
    this.want = n;
    this.step = step;
  }

  protected fail(problem: string): void {
    this.problem = problem;
  }

  /** Returns the index up to which it consumed (and emitted what it keeps). */
  protected scan(chunk: Buffer, _from: number): number {
    return chunk.length;
  }
}
