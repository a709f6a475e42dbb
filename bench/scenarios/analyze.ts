/**
 * analyze: what the `analyze` job costs per image — a ~100 KB JPEG and a 12 MP JPEG — beside a
 * bare sharp pipeline doing the same computations (decode with shrink-on-load to ≤100×100 RGBA,
 * orientation applied, ThumbHash, dominant colour, DCT pHash) on bytes already in memory.
 *
 * Two figures per size: `decode` is our analysis on the same in-memory bytes (the like-for-like
 * comparison, the target), `job` is the whole job as the worker runs it, in this process: read
 * the object from the store, decode, record the facts and the band index (one transaction),
 * publish `analyzed`. One image at a time; medians.
 */
import { randomUUID } from 'node:crypto';
import { parseEnv } from '../../packages/config/src/index.js';
import { createLogger } from '../../packages/logger/src/index.js';
import { workerConfigSchema } from '../../apps/worker/src/config.js';
import { createWorkerContext } from '../../apps/worker/src/context.js';
import { analyze as analyzeJob } from '../../apps/worker/src/processors/analyze.processor.js';
import { analyzeImage } from '../../apps/worker/src/pipeline/image-facts.js';
import { bareFacts } from '../baselines/bare-analysis.js';
import { grainyJpeg } from '../../apps/worker/src/pipeline/image-fixtures.js';
import { type BenchContext, benchServices, describeCpu, median, producer, resources, round, type ScenarioResult, startPhase, target } from '../lib.js';

const MAX_PIXELS = 100_000_000;

/** The bare pipeline: the same computations written straight against sharp and thumbhash. */
const bare = (bytes: Buffer) => bareFacts(bytes, MAX_PIXELS);

export async function analyzeCost(ctx: BenchContext): Promise<ScenarioResult> {
  const res = resources();
  try {
    const services = res.add(await benchServices(), (s) => s.cleanup());
    const p = res.add(await producer(services), (x) => x.close());
    const log = createLogger({ name: 'bench-analyze', level: 'silent' });
    const wctx = createWorkerContext(parseEnv(workerConfigSchema, { ...process.env, ...services.env }), log);
    res.add(wctx, (c) => c.close());

    const small = await grainyJpeg(5, 800, 600, 80);
    // The smoke measures nothing: a small stand-in spares it rendering 12 MP.
    const large = ctx.smoke ? await grainyJpeg(6, 1000, 750, 85) : await grainyJpeg(6, 4000, 3000, 85);
    const sizes = [
      { name: '100kb', bytes: small, n: ctx.smoke ? 3 : 60 },
      { name: '12mp', bytes: large, n: ctx.smoke ? 1 : 12 },
    ];
    const out: Record<string, number> = {};
    let cpu = startPhase().end().cpu;
    for (const { name, bytes, n } of sizes) {
      // Each asset its own key: the job must decode (a shared key would copy the facts).
      const ids: string[] = [];
      for (let i = 0; i < n + 2; i++) {
        const id = randomUUID();
        const key = `i/bench-${id}.jpg`;
        await wctx.store.put(key, bytes, 'image/jpeg');
        await p.assets.createUpload({ id, declaredContentType: 'image/jpeg', declaredSize: bytes.length, stagingKey: `staging/${id}`, uploadExpiresAt: new Date(Date.now() + 3_600_000) });
        await p.assets.markReady(id, { key, contentType: 'image/jpeg', size: bytes.length, width: 1, height: 1, sha256: '0'.repeat(64), sourceSha256: null, orientation: null, metadataRemoved: [] });
        ids.push(id);
      }
      const timeEach = async <T>(items: T[], fn: (x: T) => Promise<unknown>) => {
        const ms: number[] = [];
        for (const x of items) {
          const t0 = performance.now();
          await fn(x);
          ms.push(performance.now() - t0);
        }
        return median(ms);
      };
      await bare(bytes);
      await analyzeImage(bytes, MAX_PIXELS);
      const phase = startPhase();
      // Interleaved, so that what else the machine does falls on both alike.
      const bareMs: number[] = [];
      const oursMs: number[] = [];
      for (let i = 0; i < n; i++) {
        for (const [fn, into] of [
          [bare, bareMs],
          [(b: Buffer) => analyzeImage(b, MAX_PIXELS), oursMs],
        ] as const) {
          const t0 = performance.now();
          await fn(bytes);
          into.push(performance.now() - t0);
        }
      }
      out[`baseline_ms_${name}`] = round(median(bareMs), 2);
      out[`decode_ms_${name}`] = round(median(oursMs), 2);
      const run = (assetId: string) =>
        analyzeJob({ id: `bench-${assetId}`, data: { assetId }, attemptsMade: 0, log, signal: new AbortController().signal, reportStored: () => {} }, wctx);
      for (const id of ids.slice(0, 2)) await run(id);
      out[`job_ms_${name}`] = round(await timeEach(ids.slice(2), run), 2);
      cpu = phase.end().cpu;
      out[`bytes_${name}`] = bytes.length;
      ctx.log(`${name} (${bytes.length} B): bare ${out[`baseline_ms_${name}`]} ms, ours ${out[`decode_ms_${name}`]} ms, job ${out[`job_ms_${name}`]} ms`);
    }
    const r100 = out.decode_ms_100kb! / out.baseline_ms_100kb!;
    const r12 = out.decode_ms_12mp! / out.baseline_ms_12mp!;
    return {
      ...out,
      ratio_100kb: round(r100, 2),
      ratio_12mp: round(r12, 2),
      job_ratio_100kb: round(out.job_ms_100kb! / out.baseline_ms_100kb!, 2),
      job_ratio_12mp: round(out.job_ms_12mp! / out.baseline_ms_12mp!, 2),
      targets: {
        ratio_100kb: target('analysis / bare sharp <= 1.3 (~100 KB JPEG)', r100, r100 <= 1.3),
        ratio_12mp: target('analysis / bare sharp <= 1.3 (12 MP JPEG)', r12, r12 <= 1.3),
      },
      limited_by: describeCpu(cpu),
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
