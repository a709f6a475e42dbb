/**
 * Photo-like test pictures drawn with sharp (SVG rendered by librsvg): gradients and shapes, so a
 * perceptual hash sees structure rather than noise. Used by the analysis tests and the bench.
 */
import sharp from 'sharp';

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const colour = (r: () => number) =>
  `#${Array.from({ length: 3 }, () => Math.floor(r() * 256).toString(16).padStart(2, '0')).join('')}`;

/** An SVG scene: a gradient sky, a radial "sun", hills and a few shapes, all chosen by `seed`. */
export function sceneSvg(seed: number, width = 640, height = 480): string {
  const r = rng(seed);
  const shapes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const x = r() * width;
    const y = r() * height;
    const s = (0.08 + r() * 0.25) * Math.min(width, height);
    const fill = colour(r);
    shapes.push(
      r() < 0.5
        ? `<circle cx="${x}" cy="${y}" r="${s}" fill="${fill}"/>`
        : `<rect x="${x - s}" y="${y - s / 2}" width="${2 * s}" height="${s}" fill="${fill}" transform="rotate(${Math.floor(r() * 90)} ${x} ${y})"/>`,
    );
  }
  const hill = Array.from({ length: 9 }, (_, i) => `${(i * width) / 8},${height * (0.5 + r() * 0.4)}`).join(' ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="${r().toFixed(2)}" y2="1">
      <stop offset="0" stop-color="${colour(r)}"/><stop offset="1" stop-color="${colour(r)}"/>
    </linearGradient>
    <radialGradient id="sun"><stop offset="0" stop-color="#fff8d0"/><stop offset="1" stop-color="#fff8d0" stop-opacity="0"/></radialGradient>
  </defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <circle cx="${r() * width}" cy="${r() * height * 0.5}" r="${height * 0.3}" fill="url(#sun)"/>
  <polygon points="0,${height} ${hill} ${width},${height}" fill="${colour(r)}"/>
  ${shapes.join('\n  ')}
</svg>`;
}

/** The scene as a PNG. */
export function scenePng(seed: number, width = 640, height = 480): Promise<Buffer> {
  return sharp(Buffer.from(sceneSvg(seed, width, height))).png().toBuffer();
}

/** The same picture in the forms it reaches us in: recompressed, downsized, rotated by EXIF. */
export async function twinsOf(png: Buffer): Promise<{ jpegQ70: Buffer; half: Buffer; exifRotated: Buffer }> {
  const { width = 0 } = await sharp(png).metadata();
  return {
    jpegQ70: await sharp(png).jpeg({ quality: 70 }).toBuffer(),
    half: await sharp(png).resize(Math.round(width / 2)).jpeg({ quality: 85 }).toBuffer(),
    // Pixels stored turned a quarter left, tagged "rotate 90° clockwise to display" (Orientation 6).
    exifRotated: await sharp(png).rotate(270).jpeg({ quality: 85 }).withMetadata({ orientation: 6 }).toBuffer(),
  };
}

/**
 * The scene with sensor-like grain, as a JPEG: compresses like a photo does (800×600 at q80 is
 * ~120 KB; 4000×3000 at q85, 12 MP, ~3.5 MB), where the clean scene would be far smaller.
 */
export async function grainyJpeg(seed: number, width: number, height: number, quality: number): Promise<Buffer> {
  const grain = await sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .png()
    .toBuffer();
  return sharp(Buffer.from(sceneSvg(seed, width, height)))
    .composite([{ input: grain, blend: 'soft-light' }])
    .jpeg({ quality })
    .toBuffer();
}
