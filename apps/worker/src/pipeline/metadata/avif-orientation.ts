/**
 * AVIF turns and mirrors its primary image with `irot`/`imir` properties (not EXIF), applied in
 * the order `ipma` lists them; browsers honour them. Read from the `meta` payload and expressed as
 * the EXIF orientation that displays the same way, so every format reports alike.
 */

type Matrix = readonly [number, number, number, number]; // [a, b, c, d]: (x, y) → (a·x + b·y, c·x + d·y), y down

/** What each EXIF orientation does to the stored image to display it. */
const EXIF: ReadonlyArray<readonly [number, Matrix]> = [
  [1, [1, 0, 0, 1]],
  [2, [-1, 0, 0, 1]], // mirror left-right
  [3, [-1, 0, 0, -1]], // 180°
  [4, [1, 0, 0, -1]], // mirror top-bottom
  [5, [0, 1, 1, 0]], // transpose
  [6, [0, -1, 1, 0]], // 90° clockwise
  [7, [0, -1, -1, 0]], // transverse
  [8, [0, 1, -1, 0]], // 90° anti-clockwise
];

const multiply = (m: Matrix, n: Matrix): Matrix => [m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3], m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3]];

/** `irot`: anti-clockwise by `angle` × 90°. */
function rotation(angle: number): Matrix {
  let m: Matrix = [1, 0, 0, 1];
  for (let i = 0; i < angle; i++) m = multiply([0, 1, -1, 0], m);
  return m;
}

/**
 * `imir`: axis 0 swaps top and bottom, 1 left and right — as libheif writes it and Chromium
 * shows it (checked: sharp's AVIF with EXIF orientation 2 displays like the JPEG with 2; early
 * drafts of the HEIF spec read the axis the other way round).
 */
const mirror = (axis: number): Matrix => (axis === 0 ? [1, 0, 0, -1] : [-1, 0, 0, 1]);

interface Box {
  type: string;
  start: number;
  end: number;
  headerLength: number;
}

/**
 * The EXIF-equivalent orientation of the primary item, 1 when it has no transform (or the boxes
 * cannot be read: this only describes, it never refuses). `children` lists a payload's boxes.
 */
export function avifOrientation(meta: Buffer, children: (data: Buffer, from: number) => Box[]): number {
  try {
    const boxes = children(meta, 4);
    const pitm = boxes.find((b) => b.type === 'pitm');
    const iprp = boxes.find((b) => b.type === 'iprp');
    if (!pitm || !iprp) return 1;
    const p = pitm.start + pitm.headerLength;
    const primary = meta[p] === 0 ? meta.readUInt16BE(p + 4) : meta.readUInt32BE(p + 4);
    const inner = children(meta.subarray(0, iprp.end), iprp.start + iprp.headerLength);
    const ipco = inner.find((b) => b.type === 'ipco');
    const ipma = inner.find((b) => b.type === 'ipma');
    if (!ipco || !ipma) return 1;
    const properties = children(meta.subarray(0, ipco.end), ipco.start + ipco.headerLength);
    let m: Matrix = [1, 0, 0, 1];
    for (const index of associations(meta, ipma, primary)) {
      const prop = properties[index - 1];
      if (prop?.type === 'irot') m = multiply(rotation(meta[prop.start + prop.headerLength]! & 3), m);
      else if (prop?.type === 'imir') m = multiply(mirror(meta[prop.start + prop.headerLength]! & 1), m);
    }
    return EXIF.find(([, e]) => e.every((v, i) => v === m[i]))?.[0] ?? 1;
  } catch {
    return 1;
  }
}

/** Property indices (1-based, in order) associated with `item` in `ipma`. */
function associations(d: Buffer, ipma: Box, item: number): number[] {
  const p = ipma.start + ipma.headerLength;
  const version = d[p]!;
  const wide = (d.readUIntBE(p + 1, 3) & 1) === 1;
  const count = d.readUInt32BE(p + 4);
  let at = p + 8;
  for (let i = 0; i < count; i++) {
    const id = version < 1 ? d.readUInt16BE(at) : d.readUInt32BE(at);
    at += version < 1 ? 2 : 4;
    const n = d[at++]!;
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      out.push(wide ? d.readUInt16BE(at) & 0x7fff : d[at]! & 0x7f);
      at += wide ? 2 : 1;
    }
    if (id === item) return out;
  }
  return [];
}
