/**
 * finalize: finalize-upload jobs per second for ~1 MB images already PUT to their staging keys
 * (what a browser does with the pre-signed URL), through a worker process; beside a bare loop
 * doing what publishing an upload inherently takes — HeadObject, GetObject read to the end with
 * SHA-256, CopyObject to the public key (If-Match), DeleteObject of the staging key, one UPDATE —
 * with the same concurrency, on its own staged set. Ours also verifies what it reads (type,
 * dimensions). Image analysis is off on both sides (see e2e_small for it). Targets: jobs/s >= 0.5x bare, CPU per job <= 2x bare.
 */
import { randomUUID } from 'node:crypto';
import { makePngOfSize } from '../../packages/testing/src/index.js';
import { stagingKeyFor } from '../../packages/storage/src/index.js';
import {
  type BenchContext,
  benchServices,
  cpuMs,
  describeCpu,
  emptyBucket,
  ensureS3Room,
  forEachLimit,
  producer,
  resources,
  round,
  type ScenarioResult,
  startBaseline,
  startPhase,
  startWorker,
  target,
} from '../lib.js';

export async function finalize(ctx: BenchContext): Promise<ScenarioResult> {
  const n = ctx.smoke ? 6 : 300;
  const res = resources();
  try {
    const services = res.add(await benchServices(), (s) => s.cleanup());
    const p = res.add(await producer(services), (x) => x.close());
    const store = services.bucket.store;
    const png = makePngOfSize(1_000_000);

    // Uploads as the API leaves them after POST /v1/uploads/:id/complete: staged, processing.
    const stage = async (count: number) => {
      await ensureS3Room(2 * count * png.length, ctx.log);
      const items = Array.from({ length: count }, () => {
        const assetId = randomUUID();
        return { assetId, key: stagingKeyFor(assetId), publicKey: `i/${assetId}.png` };
      });
      await forEachLimit(items, 8, async ({ assetId, key }) => {
        await p.assets.createUpload({
          id: assetId,
          declaredContentType: 'image/png',
          declaredSize: png.length,
          stagingKey: key,
          uploadExpiresAt: new Date(Date.now() + 3_600_000),
        });
        await store.put(key, png, 'image/png');
        await p.assets.transition(assetId, ['pending_upload'], 'processing');
      });
      return items;
    };
    // Bare first, on its own staged set (it publishes and deletes it, as ours does), then ours.
    const bareWarm = await stage(ctx.smoke ? 2 : 20);
    const bareItems = await stage(n);
    const bare = await startBaseline(ctx, 'bare-finalize.ts', services.env);
    await bare.call({ items: bareWarm });
    let cpu0 = cpuMs(bare.pid);
    let phase = startPhase();
    const { ms: bareMs } = await bare.call<{ ms: number }>({ items: bareItems });
    const bareRun = { ...phase.end(), cpuMs: cpuMs(bare.pid) - cpu0 };
    await bare.stop();
    await emptyBucket(store);
    ctx.log(`bare: ${round((n * 1000) / bareMs)}/s`);

    const warm = await stage(ctx.smoke ? 2 : 20);
    const items = await stage(n);
    const ids = items.map((i) => i.assetId);
    // Like for like: the bare finalize does not analyse images, so ours does not either here (the
    // analysis has its own scenario, and e2e_small measures it beside a bare one doing the same).
    const worker = await startWorker(ctx, { ...services.env, ANALYZE_IMAGES: 'false' });
    const queue = p.queues.queues.finalizeUpload;
    await forEachLimit(warm, 8, async ({ assetId }) => void (await p.queues.enqueue('finalizeUpload', { assetId })));
    await p.completions.waitFor(
      warm.map((w) => w.assetId),
      120_000,
    );
    await queue.pause();
    await forEachLimit(items, 16, async ({ assetId }) => void (await p.queues.enqueue('finalizeUpload', { assetId })));
    cpu0 = cpuMs(worker.pid);
    phase = startPhase();
    const t0 = performance.now();
    await queue.resume();
    await p.completions.waitFor(ids, 600_000);
    const oursRun = { ...phase.end(), cpuMs: cpuMs(worker.pid) - cpu0 };
    const oursMs = Math.max(...ids.map((id) => p.completions.seen.get(id)!.at)) - t0;
    await worker.stop();
    await emptyBucket(store);
    ctx.log(`ours: ${round((n * 1000) / oursMs)}/s`);

    const jobsPerS = (n * 1000) / oursMs;
    const baselineJobsPerS = (n * 1000) / bareMs;
    const cpuRatio = oursRun.cpuMs / bareRun.cpuMs;
    return {
      jobs: n,
      image_bytes: png.length,
      jobs_per_s: round(jobsPerS),
      baseline_jobs_per_s: round(baselineJobsPerS),
      ratio: round(jobsPerS / baselineJobsPerS, 3),
      cpu_ms_per_job: round(oursRun.cpuMs / n, 2),
      baseline_cpu_ms_per_job: round(bareRun.cpuMs / n, 2),
      worker_concurrency: Number(services.env.WORKER_CONCURRENCY),
      cpu: { ours: oursRun.cpu, baseline: bareRun.cpu },
      targets: {
        throughput: target('jobs_per_s >= 0.5 x baseline_jobs_per_s', jobsPerS / baselineJobsPerS, jobsPerS / baselineJobsPerS >= 0.5),
        cpu: target('cpu_ms_per_job <= 2 x baseline_cpu_ms_per_job', cpuRatio, cpuRatio <= 2),
      },
      limited_by: `ours ${describeCpu(oursRun.cpu)}; bare ${describeCpu(bareRun.cpu)}`,
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
