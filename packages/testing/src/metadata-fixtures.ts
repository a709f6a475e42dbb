/**
 * Images that carry personal metadata, made with real tools: sharp makes the pixels, Debian's
 * `exiftool` (libimage-exiftool-perl) writes GPS, serial number, owner, XMP, IPTC and comments
 * into them, and reads back what a stored file still carries.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export type FixtureFormat = 'jpg' | 'png' | 'webp' | 'gif' | 'avif';

export interface BaseImageOptions {
  width?: number;
  height?: number;
  /** Embed a Display P3 ICC profile (the colour profile must survive stripping). @defaultValue true except GIF */
  icc?: boolean;
  /** Standard deviation of the pixel noise (lower compresses more, like a photo). @defaultValue 40 */
  noise?: number;
}

/** Noisy pixels (so nothing compresses to a trivial file), encoded by sharp. */
export async function makeBaseImage(format: FixtureFormat, opts: BaseImageOptions = {}): Promise<Buffer> {
  const { width = 96, height = 64 } = opts;
  const icc = opts.icc ?? format !== 'gif';
  const sigma = opts.noise ?? 40;
  let img = sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma } } });
  if (icc) img = img.withIccProfile('p3');
  switch (format) {
    case 'jpg':
      return img.jpeg({ quality: 90 }).toBuffer();
    case 'png':
      return img.png().toBuffer();
    case 'webp':
      return img.webp({ lossless: true }).toBuffer();
    case 'gif':
      return img.gif().toBuffer();
    case 'avif':
      return img.avif({ quality: 60, effort: 0 }).toBuffer();
  }
}

/** A 96x64 AVIF that sharp (libheif) turns with `irot`/`imir` for the given EXIF orientation. */
export async function makeOrientedAvif(orientation: number): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 64, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .avif({ effort: 0 })
    .withMetadata({ orientation })
    .toBuffer();
}

/** The personal metadata written into every fixture, as exiftool arguments. */
export const PERSONAL_TAGS = [
  '-GPSLatitude=48.8584',
  '-GPSLatitudeRef=N',
  '-GPSLongitude=2.2945',
  '-GPSLongitudeRef=E',
  '-SerialNumber=SN-0042-SECRET',
  '-Artist=Alice Example',
  '-OwnerName=Alice Example',
  '-DateTimeOriginal=2026:06:01 12:00:00',
  '-XMP:Creator=Alice Example',
  '-XMP:Description=home address',
  '-IPTC:By-line=Alice Example',
  '-Comment=taken at home',
];

/** Runs exiftool on a copy of `bytes` (a temporary file) and returns the rewritten bytes. */
export function exiftoolWrite(bytes: Buffer, format: FixtureFormat, args: string[]): Buffer {
  return withTempFile(bytes, format, (file) => {
    execFileSync('exiftool', ['-q', '-q', '-overwrite_original', '-n', ...args, file], { stdio: 'pipe' });
    return readFileSync(file);
  });
}

/** A fixture with GPS, serial number, names, dates, XMP, IPTC and a comment; EXIF orientation if given. */
export async function makePersonalImage(format: FixtureFormat, opts: BaseImageOptions & { orientation?: number } = {}): Promise<Buffer> {
  const base = await makeBaseImage(format, opts);
  const orientation = opts.orientation ? [`-EXIF:Orientation=${opts.orientation}`] : [];
  return exiftoolWrite(base, format, [...PERSONAL_TAGS, ...orientation]);
}

/** Every tag exiftool reads, keyed `Group:Tag` (`exiftool -j -G1 -n`). */
export function exiftoolTags(bytes: Buffer, format: FixtureFormat): Record<string, unknown> {
  return withTempFile(bytes, format, (file) => {
    const out = execFileSync('exiftool', ['-j', '-G1', '-n', '-a', '-u', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [tags] = JSON.parse(out.toString('utf8')) as Array<Record<string, unknown>>;
    return tags!;
  });
}

/** The tags of `tags` that say something about a person, a place, a device or a time. */
export function personalTags(tags: Record<string, unknown>): string[] {
  const personal = /gps|serial|artist|owner|creator|by-line|comment|(?<!handler)description|datetimeoriginal|xmp|iptc|photoshop|author|copyright(?!.*icc)/i;
  return Object.keys(tags).filter((k) => !/^(System|ExifTool|File|ICC[-_])/.test(k) && personal.test(k));
}

/** Decoded pixels exactly as stored (no orientation applied, no colour conversion): for lossless checks. */
export async function rawPixels(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes, { animated: false }).raw().toBuffer();
}

/** `sharp().metadata()` of the bytes (format, width, height, orientation, icc). */
export const imageMetadata = (bytes: Buffer) => sharp(bytes).metadata();

/**
 * A "motion photo": a JPEG with an MP4-like payload appended after its EOI, the way Google and
 * Samsung cameras write them (the video has its own metadata, here a fake GPS atom).
 */
export function appendMotionPhoto(jpeg: Buffer, videoBytes = 64 * 1024): Buffer {
  const video = Buffer.alloc(videoBytes, 0x11);
  video.write('\0\0\0\x18ftypmp42', 0, 'latin1');
  video.write('\xa9xyz+48.8584+002.2945/', 64, 'latin1');
  return Buffer.concat([jpeg, video]);
}

function withTempFile<T>(bytes: Buffer, format: FixtureFormat, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rehost-exif-'));
  try {
    const file = join(dir, `image.${format}`);
    writeFileSync(file, bytes);
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
