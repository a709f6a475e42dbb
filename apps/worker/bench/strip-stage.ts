/**
 * Throughput of the verification stage alone, strip versus keep, on a metadata-heavy 12 MP
 * phone-style JPEG (EXIF with GPS, serial, thumbnail; XMP; IPTC; a comment; an appended
 * motion-photo video) held in memory and fed in 64 KiB chunks; MB per CPU second, median of 9
 * alternated passes. `hash-only` is sha256 over the same chunks, the floor of any such stage.
 * Needs exiftool.
 *
 *   cd apps/worker && node --import tsx bench/strip-stage.ts
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { appendMotionPhoto, exiftoolWrite, makeBaseImage, PERSONAL_TAGS } from '@rehost/testing/metadata';
import { verifyImageStream } from '../src/pipeline/verify-image.js';

const CHUNK = 64 * 1024;
const RUNS = 9;

async function phoneJpeg(): Promise<Buffer> {
  const base = await makeBaseImage('jpg', { width: 4032, height: 3024, noise: 12 });
  // A long XMP edit history stands in for the bulk of a phone's EXIF/maker notes.
  const tagged = exiftoolWrite(base, 'jpg', [...PERSONAL_TAGS, '-EXIF:Orientation=6', `-XMP-dc:Source=${'edit history '.repeat(2500)}`]);
  return appendMotionPhoto(tagged, 3 * 1024 * 1024);
}

function* chunks(bytes: Buffer): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
}

/** CPU seconds of one pass (the machine is shared: wall time moves with other tenants, CPU time far less). */
async function once(bytes: Buffer, policy: 'strip' | 'keep' | 'hash-only'): Promise<number> {
  const started = process.cpuUsage();
  if (policy === 'hash-only') {
    const h = createHash('sha256');
    for (const c of chunks(bytes)) h.update(c);
    h.digest();
  } else {
    const { body, done } = await verifyImageStream(Readable.from(chunks(bytes)), {
      maxBytes: 64 * 1024 * 1024,
      maxPixels: 100_000_000,
      metadataPolicy: policy,
    });
    body.on('data', () => {});
    await done;
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1e6;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const jpeg = await phoneJpeg();
const mb = jpeg.length / 1e6;
const results: Record<string, number> = {};
const POLICIES = ['hash-only', 'keep', 'strip'] as const;
for (const policy of POLICIES) await once(jpeg, policy); // warm-up
const times: Record<string, number[]> = { 'hash-only': [], keep: [], strip: [] };
for (let r = 0; r < RUNS; r++) for (const policy of POLICIES) times[policy]!.push(await once(jpeg, policy)); // alternated
for (const policy of POLICIES) results[policy] = mb / median(times[policy]!);
const { body, done } = await verifyImageStream(Readable.from(chunks(jpeg)), { maxBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 });
let stored = 0;
body.on('data', (c: Buffer) => (stored += c.length));
const img = await done;
console.log(
  JSON.stringify({
    fileMB: Number(mb.toFixed(2)),
    storedMB: Number((stored / 1e6).toFixed(2)),
    removed: img.metadataRemoved,
    mbPerCpuSecond: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(v)])),
  }),
);
