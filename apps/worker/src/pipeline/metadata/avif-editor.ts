import { avifOrientation } from './avif-orientation.js';
import { StreamEditor } from './stream-editor.js';

/** The `meta` box (item tables, properties; no image data) is read whole up to this size. */
const MAX_META_BOX = 1024 * 1024;

/** A byte range of the input file that is overwritten with zeros. */
interface Range {
  start: number;
  end: number;
}

/**
 * AVIF (ISO-BMFF): EXIF and XMP are items of the `meta` box whose bytes usually sit in `mdat`.
 * The `meta` box is read (bounded), the EXIF and XMP items are taken out of its item tables
 * (iinf, iloc, iref, ipma) and the offsets of the items that stay are moved by however much the
 * box shrank; their bytes, as they then stream through `mdat`, are overwritten with zeros
 * (removing them would move every later offset). Orientation in AVIF is the `irot`/`imir`
 * properties, which are kept.
 */
export class AvifEditor extends StreamEditor {
  override readonly displaysOrientation = true;
  private zero: Range[] = [];
  /** The `mdat` spans streamed with zeroing on; every removed range must fall inside one. */
  private zeroedSpans: Range[] = [];
  private mdatEnd = 0;
  private delta = 0;
  private metaEnd = -1;

  constructor() {
    super();
    this.take(8, this.box);
  }

  private box = (b: Buffer): void => {
    const size32 = b.readUInt32BE(0);
    const type = b.toString('latin1', 4, 8);
    const header = Buffer.from(b);
    if (size32 === 1) {
      this.take(8, (l) => this.onBox(type, Number(l.readBigUInt64BE(0)), Buffer.concat([header, l])));
    } else if (size32 === 0) {
      this.onBox(type, Number.POSITIVE_INFINITY, header);
    } else {
      this.onBox(type, size32, header);
    }
  };

  private onBox(type: string, size: number, header: Buffer): void {
    const body = size - header.length;
    if (body < 0) {
      this.fail('AVIF box size out of range');
      return;
    }
    if (type === 'meta' && this.metaEnd < 0) {
      if (body > MAX_META_BOX || header.length !== 8) {
      this.fail('AVIF meta box too large');
      return;
    }
      const start = this.position - header.length;
      this.take(body, (data) => {
        this.metaEnd = start + size;
        this.meta(data);
        this.settled = true; // `meta` read: the orientation is known
        this.take(8, this.box);
      });
    } else if (type === 'mdat' && this.zero.length > 0) {
      this.emit(header);
      this.mdatEnd = this.position + body;
      this.zeroedSpans.push({ start: this.position, end: this.mdatEnd });
      this.zero.sort((a, b) => a.start - b.start);
      this.scanning = true;
    } else {
      this.emit(header);
      this.pass(body);
      this.take(8, this.box);
    }
  }

  private meta(data: Buffer): void {
    this.orientation = avifOrientation(data, children);
    let edited: Buffer;
    try {
      edited = new MetaEdit(data).run(this);
    } catch {
      this.fail('unreadable AVIF meta box');
      return;
    }
    this.emit(Buffer.concat([boxHeader('meta', edited.length + 8), edited]));
  }

  /** Set by MetaEdit once it knows how much `meta` changes size. */
  moveBy(delta: number): void {
    this.delta = delta;
  }

  /** Where bytes at `fileOffset` of the input are in the output (MetaEdit, rewriting iloc). */
  shift(fileOffset: number): number {
    return fileOffset >= this.metaEnd ? fileOffset + this.delta : fileOffset;
  }

  get metaBoxEnd(): number {
    return this.metaEnd;
  }

  /** An EXIF/XMP item stored outside an `mdat` that followed `meta` has been passed on already. */
  override finish(): string | undefined {
    const unzeroed = this.zero.some((r) => !this.zeroedSpans.some((m) => r.start >= m.start && r.end <= m.end));
    return unzeroed ? 'AVIF metadata outside the media data that follows its item table; it cannot be removed in one pass' : undefined;
  }

  dropItemBytes(start: number, length: number): void {
    this.zero.push({ start, end: start + length });
  }

  /** `mdat` with removed items' ranges in it: passed through, those ranges as zeros. */
  protected override scan(chunk: Buffer, from: number): number {
    const at = this.position; // file offset of chunk[from]
    const upto = Math.min(chunk.length, from + (this.mdatEnd - at));
    let i = from;
    while (i < upto) {
      const pos = at + (i - from);
      const hit = this.zero.find((r) => r.end > pos && r.start < at + (upto - from));
      if (!hit) {
        this.emit(chunk.subarray(i, upto));
        i = upto;
      } else if (hit.start > pos) {
        const n = hit.start - pos;
        this.emit(chunk.subarray(i, i + n));
        i += n;
      } else {
        const n = Math.min(hit.end - pos, upto - i);
        this.emit(Buffer.alloc(n));
        i += n;
      }
    }
    if (at + (upto - from) >= this.mdatEnd) {
      this.scanning = false;
      this.take(8, this.box);
    }
    return upto;
  }
}

function boxHeader(type: string, size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(size, 0);
  b.write(type, 4, 'latin1');
  return b;
}

/** The child boxes of a box's payload, as [type, start, end] (end exclusive, header included). */
function children(data: Buffer, from: number): Array<{ type: string; start: number; end: number; headerLength: number }> {
  const out = [];
  let at = from;
  while (at + 8 <= data.length) {
    let size = data.readUInt32BE(at);
    let headerLength = 8;
    if (size === 1) {
      size = Number(data.readBigUInt64BE(at + 8));
      headerLength = 16;
    } else if (size === 0) {
      size = data.length - at;
    }
    if (size < headerLength || at + size > data.length) throw new Error('box out of range');
    out.push({ type: data.toString('latin1', at + 4, at + 8), start: at, end: at + size, headerLength });
    at += size;
  }
  if (at !== data.length) throw new Error('trailing bytes in box');
  return out;
}

function readUInt(b: Buffer, at: number, size: number): number {
  if (size === 0) return 0;
  if (size === 2) return b.readUInt16BE(at);
  if (size === 4) return b.readUInt32BE(at);
  if (size === 8) return Number(b.readBigUInt64BE(at));
  throw new Error(`field size ${size}`);
}

function writeUInt(b: Buffer, at: number, size: number, value: number): void {
  if (size === 0) return;
  if (size === 2) b.writeUInt16BE(value, at);
  else if (size === 4) b.writeUInt32BE(value, at);
  else if (size === 8) b.writeBigUInt64BE(BigInt(value), at);
  else throw new Error(`field size ${size}`);
}

/** Rewrites the payload of `meta` (a FullBox: 4 bytes of version/flags, then child boxes). */
class MetaEdit {
  private readonly removed = new Set<number>();
  /** Ranges of the `idat` payload that belonged to removed items. */
  private readonly idatZero: Range[] = [];

  constructor(private readonly data: Buffer) {}

  /** Returns `data` itself when there is nothing to remove. */
  run(editor: AvifEditor): Buffer {
    const boxes = children(this.data, 4);
    const iinf = boxes.find((b) => b.type === 'iinf');
    if (iinf) this.findMetadataItems(iinf, editor);
    if (this.removed.size === 0) return this.data;
    // The new sizes are known before offsets are written: iloc shrinks by a computable amount,
    // so rebuild every box except iloc, then iloc with the final delta.
    const rebuilt = boxes.map((b) => (b.type === 'iloc' ? null : this.rebuild(b)));
    const ilocBox = boxes.find((b) => b.type === 'iloc');
    const sizeWithoutIloc = 4 + rebuilt.reduce((n, r) => n + (r ? r.length : 0), 0);
    const ilocSize = ilocBox ? this.iloc(ilocBox, editor, true).length : 0;
    editor.moveBy(sizeWithoutIloc + ilocSize - this.data.length);
    const parts = boxes.map((b, i) => (b.type === 'iloc' ? this.iloc(b, editor, false) : rebuilt[i]!));
    // Items stored inside `meta` itself (construction method 1, in `idat`): their bytes are zeroed there.
    const idat = boxes.findIndex((b) => b.type === 'idat');
    if (idat >= 0 && this.idatZero.length > 0) {
      const box = Buffer.from(parts[idat]!);
      const payload = boxes[idat]!.headerLength;
      for (const r of this.idatZero) box.fill(0, Math.min(box.length, payload + r.start), Math.min(box.length, payload + r.end));
      parts[idat] = box;
    }
    return Buffer.concat([this.data.subarray(0, 4), ...parts]);
  }

  private findMetadataItems(iinf: { start: number; end: number; headerLength: number }, editor: AvifEditor): void {
    const d = this.data;
    const version = d[iinf.start + iinf.headerLength]!;
    const first = iinf.start + iinf.headerLength + 4 + (version === 0 ? 2 : 4);
    for (const infe of children(d.subarray(0, iinf.end), first)) {
      if (infe.type !== 'infe') continue;
      const p = infe.start + infe.headerLength;
      const v = d[p]!;
      if (v < 2) continue;
      const idSize = v === 2 ? 2 : 4;
      const id = readUInt(d, p + 4, idSize);
      const itemType = d.toString('latin1', p + 4 + idSize + 2, p + 4 + idSize + 6);
      const rest = d.toString('latin1', p + 4 + idSize + 6, infe.end);
      if (itemType === 'Exif') {
        this.removed.add(id);
        editor.removed.add('exif');
      } else if (itemType === 'mime' && rest.includes('application/rdf+xml')) {
        this.removed.add(id);
        editor.removed.add('xmp');
      }
    }
  }

  private rebuild(b: { type: string; start: number; end: number; headerLength: number }): Buffer {
    const d = this.data;
    const box = d.subarray(b.start, b.end);
    if (b.type === 'iinf') return this.iinf(b);
    if (b.type === 'iref') return this.iref(b);
    if (b.type === 'iprp') {
      const kids = children(d.subarray(0, b.end), b.start + b.headerLength).map((k) => (k.type === 'ipma' ? this.ipma(k) : d.subarray(k.start, k.end)));
      return withSize(Buffer.concat([d.subarray(b.start, b.start + b.headerLength), ...kids]));
    }
    return box;
  }

  private iinf(b: { start: number; end: number; headerLength: number }): Buffer {
    const d = this.data;
    const p = b.start + b.headerLength;
    const version = d[p]!;
    const countSize = version === 0 ? 2 : 4;
    const kept = children(d.subarray(0, b.end), p + 4 + countSize).filter((infe) => {
      const q = infe.start + infe.headerLength;
      const v = d[q]!;
      if (infe.type !== 'infe' || v < 2) return true;
      return !this.removed.has(readUInt(d, q + 4, v === 2 ? 2 : 4));
    });
    const head = Buffer.from(d.subarray(b.start, p + 4 + countSize));
    writeUInt(head, b.headerLength + 4, countSize, kept.length);
    return withSize(Buffer.concat([head, ...kept.map((k) => d.subarray(k.start, k.end))]));
  }

  private iref(b: { start: number; end: number; headerLength: number }): Buffer {
    const d = this.data;
    const p = b.start + b.headerLength;
    const idSize = d[p] === 0 ? 2 : 4;
    const refs: Buffer[] = [];
    for (const r of children(d.subarray(0, b.end), p + 4)) {
      const q = r.start + r.headerLength;
      const from = readUInt(d, q, idSize);
      if (this.removed.has(from)) continue;
      const count = d.readUInt16BE(q + idSize);
      const to: number[] = [];
      for (let i = 0; i < count; i++) {
        const id = readUInt(d, q + idSize + 2 + i * idSize, idSize);
        if (!this.removed.has(id)) to.push(id);
      }
      if (to.length === 0) continue;
      const out = Buffer.alloc(r.headerLength + idSize + 2 + to.length * idSize);
      d.copy(out, 0, r.start, r.start + r.headerLength);
      writeUInt(out, r.headerLength, idSize, from);
      out.writeUInt16BE(to.length, r.headerLength + idSize);
      for (const [i, id] of to.entries()) writeUInt(out, r.headerLength + idSize + 2 + i * idSize, idSize, id);
      refs.push(withSize(out));
    }
    return withSize(Buffer.concat([d.subarray(b.start, p + 4), ...refs]));
  }

  private ipma(b: { start: number; end: number; headerLength: number }): Buffer {
    const d = this.data;
    const p = b.start + b.headerLength;
    const version = d[p]!;
    const flags = d.readUIntBE(p + 1, 3);
    const idSize = version < 1 ? 2 : 4;
    const assocSize = flags & 1 ? 2 : 1;
    const count = d.readUInt32BE(p + 4);
    const kept: Buffer[] = [];
    let at = p + 8;
    for (let i = 0; i < count; i++) {
      const id = readUInt(d, at, idSize);
      const n = d[at + idSize]!;
      const end = at + idSize + 1 + n * assocSize;
      if (end > b.end) throw new Error('ipma out of range');
      if (!this.removed.has(id)) kept.push(d.subarray(at, end));
      at = end;
    }
    const head = Buffer.from(d.subarray(b.start, p + 8));
    head.writeUInt32BE(kept.length, b.headerLength + 4);
    return withSize(Buffer.concat([head, ...kept, d.subarray(at, b.end)]));
  }

  /** `measure`: only the size matters (offsets not final yet), and nothing is recorded. */
  private iloc(b: { start: number; end: number; headerLength: number }, editor: AvifEditor, measure: boolean): Buffer {
    const d = this.data;
    const p = b.start + b.headerLength;
    const version = d[p]!;
    const offsetSize = d[p + 4]! >> 4;
    const lengthSize = d[p + 4]! & 15;
    const baseSize = d[p + 5]! >> 4;
    const indexSize = version === 1 || version === 2 ? d[p + 5]! & 15 : 0;
    const countSize = version < 2 ? 2 : 4;
    const idSize = version < 2 ? 2 : 4;
    const count = readUInt(d, p + 6, countSize);
    let at = p + 6 + countSize;
    const kept: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const start = at;
      const id = readUInt(d, at, idSize);
      at += idSize;
      let method = 0;
      if (version === 1 || version === 2) {
        method = d.readUInt16BE(at) & 15;
        at += 2;
      }
      at += 2; // data_reference_index
      const baseAt = at;
      const base = readUInt(d, at, baseSize);
      at += baseSize;
      const extents = d.readUInt16BE(at);
      at += 2;
      const extentAt: number[] = [];
      for (let e = 0; e < extents; e++) {
        at += indexSize;
        extentAt.push(at);
        at += offsetSize + lengthSize;
      }
      if (at > b.end) throw new Error('iloc out of range');
      const entry = Buffer.from(d.subarray(start, at));
      if (this.removed.has(id)) {
        for (const x of measure ? [] : extentAt) {
          const start = base + readUInt(d, x, offsetSize);
          const length = readUInt(d, x + offsetSize, lengthSize);
          if (method === 0) editor.dropItemBytes(start, length);
          else if (method === 1) this.idatZero.push({ start, end: start + length });
        }
        continue;
      }
      if (!measure && method === 0) {
        if (baseSize > 0 && base >= editor.metaBoxEnd) {
          writeUInt(entry, baseAt - start, baseSize, editor.shift(base));
        } else {
          for (const x of extentAt) {
            const offset = readUInt(d, x, offsetSize);
            writeUInt(entry, x - start, offsetSize, editor.shift(base + offset) - base);
          }
        }
      }
      kept.push(entry);
    }
    const head = Buffer.from(d.subarray(b.start, p + 6 + countSize));
    writeUInt(head, b.headerLength + 6, countSize, kept.length);
    return withSize(Buffer.concat([head, ...kept, d.subarray(at, b.end)]));
  }
}

/** Writes a (32-bit) box's own size into its header. */
function withSize(box: Buffer): Buffer {
  const out = Buffer.from(box);
  out.writeUInt32BE(out.length, 0);
  return out;
}
