/**
 * memory: peak RSS (VmHWM, read from /proc) of a worker process that rehosts one file, for a
 * 100 MB and a 1 GB file, each in a fresh process; beside the bare pipe's peak for the same files.
 * Streaming means the peak should not depend on the file size.
 */
import { randomUUID } from 'node:crypto';
import {
  type BenchContext,
  benchServices,
  ensureS3Room,
  imageServer,
  MB,
  median,
  peakRssMb,
  producer,
  resources,
  round,
  rssMb,
  type ScenarioResult,
  startBaseline,
  startWorker,
  target,
} from '../lib.js';
import { LARGE_FILE_ENV, rehostUrl } from './rehost-stream.js';

export async function memory(ctx: BenchContext): Promise<ScenarioResult> {
  const [small, large] = ctx.smoke ? [5 * MB, 20 * MB] : [100 * MB, 1000 * MB];
  const res = resources();
  try {
    const services = res.add(await benchServices(LARGE_FILE_ENV), (s) => s.cleanup());
    const images = res.add(await imageServer(), (i) => i.close());
    const p = res.add(await producer(services), (x) => x.close());
    const store = services.bucket.store;
    ctx.log(`writing ${round(small / MB)} MB and ${round(large / MB)} MB images`);
    const files = { small: await images.add(small), large: await images.add(large) };

    /** A fresh worker rehosts one file; its peak RSS afterwards, and its RSS when it was idle. */
    const ours = async (file: keyof typeof files) => {
      await ensureS3Room(files[file].bytes, ctx.log);
      // Like for like: the bare pipe does not analyse, so ours does not either (an analysis of the
      // transferred file would run in the same process, on the next transfer's CPU).
      const worker = await startWorker(ctx, { ...services.env, ANALYZE_IMAGES: 'false' });
      const idle = rssMb(worker.pid);
      const ms = await rehostUrl(p, store, files[file].url, 900_000);
      const peak = peakRssMb(worker.pid);
      await worker.stop();
      ctx.log(`ours ${file}: peak ${peak} MB (idle ${idle} MB), ${round(files[file].bytes / MB / (ms / 1000))} MB/s`);
      return { peak, idle };
    };
    const bare = async (file: keyof typeof files) => {
      await ensureS3Room(files[file].bytes, ctx.log);
      const pipe = await startBaseline(ctx, 'bare-pipe.ts', services.env);
      const idle = rssMb(pipe.pid);
      const key = `bare/${randomUUID()}.png`;
      await pipe.call({ url: files[file].url, key });
      const peak = peakRssMb(pipe.pid);
      await pipe.stop();
      await store.delete(key);
      ctx.log(`bare ${file}: peak ${peak} MB (idle ${idle} MB)`);
      return { peak, idle };
    };

    // Fresh processes each time, alternating ours and bare; the medians are kept (a peak is noisy:
    // it depends on when the garbage collector happened to run).
    const runs = ctx.smoke ? 1 : 3;
    const seen: Record<string, { peak: number; idle: number }[]> = { ours100: [], ours1000: [], bare100: [], bare1000: [] };
    for (let i = 0; i < runs; i++) {
      seen.ours100!.push(await ours('small'));
      seen.bare100!.push(await bare('small'));
      seen.ours1000!.push(await ours('large'));
      seen.bare1000!.push(await bare('large'));
    }
    const mid = (k: string) => ({ peak: median(seen[k]!.map((r) => r.peak)), idle: median(seen[k]!.map((r) => r.idle)) });
    const [ours100, ours1000, bare100, bare1000] = [mid('ours100'), mid('ours1000'), mid('bare100'), mid('bare1000')];

    const growth = ours1000.peak / ours100.peak;
    const overBare = ours1000.peak - bare1000.peak;
    return {
      file_mb_100: round(files.small.bytes / MB),
      file_mb_1000: round(files.large.bytes / MB),
      peak_rss_mb_100: ours100.peak,
      peak_rss_mb_1000: ours1000.peak,
      baseline_peak_rss_mb_100: bare100.peak,
      baseline_peak_rss_mb_1000: bare1000.peak,
      idle_rss_mb: ours100.idle,
      baseline_idle_rss_mb: bare100.idle,
      runs: Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.map((r) => r.peak)])),
      targets: {
        growth: target('peak_rss_mb_1000 <= 1.1 x peak_rss_mb_100', growth, growth <= 1.1),
        over_baseline: target('peak_rss_mb_1000 <= baseline_peak_rss_mb_1000 + 40', overBare, overBare <= 40),
      },
      limited_by:
        `peak = idle process (ours ${ours100.idle} MB, bare ${bare100.idle} MB) + parts in flight ` +
        `(${Number(services.env.S3_QUEUE_SIZE)} × ${round(Number(services.env.S3_PART_SIZE_BYTES) / MB)} MB being uploaded, one being filled) + garbage not yet collected ` +
        `(ours collects the young generation after each part it fills, which frees the network chunks it copied; the bare pipe leaves them to V8)`,
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
