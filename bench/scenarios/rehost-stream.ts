/**
 * rehost_stream: one large image, downloaded from a local HTTP server and stored through the
 * real worker pipeline (url source → verification stage → lib-storage multipart), beside a bare
 * got → lib-storage Upload pipe with the same part size and queue size.
 *
 * Both run as long-lived processes warmed by one small transfer; the runs alternate (bare, ours,
 * bare, ours, …) so that a noisy neighbour hits both, and the medians are compared.
 */
import { randomUUID } from 'node:crypto';
import {
  type BenchContext,
  benchServices,
  type CpuShare,
  cpuMs,
  describeCpu,
  ensureS3Room,
  imageServer,
  MB,
  median,
  medianBy,
  producer,
  resources,
  type Producer,
  round,
  type ScenarioResult,
  startBaseline,
  startPhase,
  startWorker,
  target,
} from '../lib.js';
import type { ObjectStore } from '../../packages/storage/src/index.js';

/** What a url-source rehost of a large file needs from the environment. */
export const LARGE_FILE_ENV = {
  MAX_UPLOAD_BYTES: String(2 ** 31 - 1),
  MAX_IMAGE_PIXELS: String(2 ** 31),
  REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
  REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
  FETCH_IDLE_TIMEOUT_MS: '60000',
};

/** Rehosts `url` through the worker; resolves with enqueue → completion event time, after deleting the object. */
export async function rehostUrl(p: Producer, store: ObjectStore, url: string, timeoutMs: number): Promise<number> {
  const assetId = randomUUID();
  await p.assets.createRehost({ id: assetId, sourceType: 'url', sourceUrl: url });
  const t0 = performance.now();
  await p.queues.enqueue('rehost', { assetId, source: { type: 'url', url } });
  await p.completions.waitFor([assetId], timeoutMs);
  const ms = p.completions.seen.get(assetId)!.at - t0;
  const { key } = (await p.assets.get(assetId))!;
  await store.delete(key!); // RGW's memstore holds 4 GiB: big objects go at once
  return ms;
}

export async function rehostStream(ctx: BenchContext): Promise<ScenarioResult> {
  const size = ctx.smoke ? 4 * MB : 200 * MB;
  const runs = ctx.smoke ? 1 : 5;
  const res = resources();
  try {
    const services = res.add(await benchServices(LARGE_FILE_ENV), (s) => s.cleanup());
    const images = res.add(await imageServer(), (i) => i.close());
    const p = res.add(await producer(services), (x) => x.close());
    const store = services.bucket.store;
    const image = await images.add(size);
    const warmup = await images.add(MB);
    // Like for like: the bare pipe does not analyse, so ours does not either (an analysis of the
    // transferred file would run in the same process, on the next transfer's CPU).
    const worker = await startWorker(ctx, { ...services.env, ANALYZE_IMAGES: 'false' });
    const bare = await startBaseline(ctx, 'bare-pipe.ts', services.env);
    const bareOnce = async (url: string) => {
      const key = `bare/${randomUUID()}.png`;
      const { ms } = await bare.call<{ ms: number }>({ url, key });
      await store.delete(key);
      return ms;
    };
    await rehostUrl(p, store, warmup.url, 60_000);
    await bareOnce(warmup.url);

    type Run = { ms: number; cpu: CpuShare; processCpuMs: number };
    const ours: Run[] = [];
    const base: Run[] = [];
    const measure = async (pid: number, transfer: () => Promise<unknown>): Promise<Run> => {
      const before = cpuMs(pid);
      const phase = startPhase();
      await transfer();
      return { ...phase.end(), processCpuMs: cpuMs(pid) - before };
    };
    for (let i = 0; i < runs; i++) {
      ctx.log(`run ${i + 1}/${runs}: bare, then ours (${round(image.bytes / MB)} MB)`);
      await ensureS3Room(image.bytes, ctx.log);
      base.push(await measure(bare.pid, () => bareOnce(image.url)));
      await ensureS3Room(image.bytes, ctx.log);
      ours.push(await measure(worker.pid, () => rehostUrl(p, store, image.url, 600_000)));
    }
    await worker.stop();
    await bare.stop();

    const mbps = (ms: number) => image.bytes / MB / (ms / 1000);
    const mid = (xs: Run[]) => medianBy(xs, (r) => r.ms);
    const mbPerS = mbps(median(ours.map((r) => r.ms)));
    const baselineMbPerS = mbps(median(base.map((r) => r.ms)));
    const ratio = mbPerS / baselineMbPerS;
    return {
      file_mb: round(image.bytes / MB),
      mb_per_s: round(mbPerS),
      baseline_mb_per_s: round(baselineMbPerS),
      ratio: round(ratio, 3),
      runs: { ours_mb_per_s: ours.map((r) => round(mbps(r.ms))), baseline_mb_per_s: base.map((r) => round(mbps(r.ms))) },
      // CPU time of the worker / the bare process per MB moved: what noise on a shared machine does not change.
      cpu_ms_per_mb: round(median(ours.map((r) => r.processCpuMs)) / (image.bytes / MB), 2),
      baseline_cpu_ms_per_mb: round(median(base.map((r) => r.processCpuMs)) / (image.bytes / MB), 2),
      part_size_bytes: Number(services.env.S3_PART_SIZE_BYTES),
      queue_size: Number(services.env.S3_QUEUE_SIZE),
      cpu: { ours: mid(ours).cpu, baseline: mid(base).cpu },
      targets: { ratio: target('ratio >= 0.9', ratio, ratio >= 0.9) },
      limited_by: `ours ${describeCpu(mid(ours).cpu)}; bare ${describeCpu(mid(base).cpu)}`,
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
