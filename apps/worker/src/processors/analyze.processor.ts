import { type AnalysisOutcome, AnalysisRepo } from '@rehost/db';
import { errors, publishAssetEvent } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import type { WorkerContext } from '../context.js';
import { analyzeImage, UndecodableImage } from '../pipeline/image-facts.js';
import type { Processor } from './types.js';
import { enqueueWebhook, producerQueuesOf } from './webhook.processor.js';

const repos = new WeakMap<WorkerContext, AnalysisRepo>();
const analysisOf = (ctx: WorkerContext): AnalysisRepo => {
  let repo = repos.get(ctx);
  if (!repo) {
    repo = new AnalysisRepo(ctx.sql);
    repos.set(ctx, repo);
  }
  return repo;
};

/**
 * Queues the analysis of an asset that just became ready. Off with ANALYZE_IMAGES=false. Never
 * fails the caller: the asset is ready whether or not its facts follow, and `pnpm rehost analyze`
 * fills what a lost enqueue missed.
 */
async function enqueueAnalyze(ctx: WorkerContext, assetId: string): Promise<void> {
  if (!ctx.config.ANALYZE_IMAGES) return;
  await producerQueuesOf(ctx)
    .enqueue('analyze', { assetId })
    .catch((err: unknown) => ctx.log.warn({ err, assetId }, 'analyze not enqueued; the backfill will pick it up'));
}

/**
 * The image facts of an asset that just became ready, called by the job that made it ready once
 * `ready` is announced (off the URL's critical path). When this process holds the bytes it just
 * stored (RecentObjects), it decodes them here, records and announces `analyzed`: no `analyze`
 * job, no read of the asset or the store. Otherwise — the object was copied or shared, too large
 * to keep, or this in-job analysis failed on a database error before recording — the `analyze`
 * job does it. Never throws: the asset is ready whatever becomes of its facts.
 */
export async function analyzeAfterReady(ctx: WorkerContext, assetId: string, hasCallback: boolean | undefined, log: Logger = ctx.log): Promise<void> {
  if (!ctx.config.ANALYZE_IMAGES) return;
  const held = ctx.recentObjects?.take(assetId);
  let outcome: AnalysisOutcome | undefined;
  if (held) {
    try {
      outcome = await outcomeOf(ctx, held.bytes.length, () => Promise.resolve(held.bytes));
      // Compare-and-set on a live, ready asset naming these bytes' key: deleted meanwhile, or made
      // ready by another run (this run lost; its object is gone): nothing recorded or announced.
      if (!(await analysisOf(ctx).record(assetId, outcome, held.key))) return;
    } catch (err) {
      log.warn({ err }, 'analysis in the job failed; queued instead');
      outcome = undefined;
    }
  }
  if (!outcome) return enqueueAnalyze(ctx, assetId);
  const error = noteRecorded(ctx, outcome, 'decoded', log);
  // Recorded: a lost announcement is not made up by a job (it would find the facts and skip).
  await announceAnalyzed(ctx, assetId, error, hasCallback).catch((err: unknown) => log.warn({ err }, "'analyzed' not announced"));
}

/**
 * Decodes the stored image once (or copies the facts of another asset holding the same object)
 * and records placeholder, dominant colour and pHash; then announces `analyzed` on the event
 * stream and to the asset's callback. An image that cannot be decoded ends `analyzed` with an
 * error: facts null, reason recorded, the asset still ready. Store and database errors retry.
 */
export const analyze: Processor<'analyze'> = async ({ data, log, attemptsMade, noteCallback }, ctx) => {
  const { assetId } = data;
  const repo = analysisOf(ctx);
  // One statement: the asset, and the facts of another asset holding the same object, if any.
  const target = await repo.target(assetId);
  noteCallback?.(Boolean(target?.asset.callbackUrl));
  const asset = target?.asset;
  if (!target || !asset?.key || asset.status !== 'ready') return { assetId, status: 'skipped' };
  const key = asset.key;
  if (asset.analyzedAt) {
    // A retry after recording but before announcing: announce now. A second enqueue (backfill): nothing to do.
    if (attemptsMade > 0) await announceAnalyzed(ctx, assetId, undefined, Boolean(asset.callbackUrl));
    return { assetId, status: 'skipped' };
  }

  let outcome = target.shared;
  const via = outcome ? 'copied' : 'decoded';
  if (!outcome) {
    const size = asset.size ?? ctx.config.MAX_UPLOAD_BYTES;
    outcome = await outcomeOf(ctx, size, () => readObject(ctx, key, size));
  }
  // Deleted (or otherwise not ready) meanwhile: nothing recorded, nothing announced.
  if (!(await repo.record(assetId, outcome, key))) return { assetId, status: 'skipped' };

  const error = noteRecorded(ctx, outcome, via, log);
  await announceAnalyzed(ctx, assetId, error, Boolean(asset.callbackUrl));
  return { assetId, status: 'analyzed', via, ...(error ? { error } : {}) };
};

/** Counts and logs an outcome just recorded; its error when the image could not be decoded. */
function noteRecorded(ctx: WorkerContext, outcome: AnalysisOutcome, via: 'decoded' | 'copied', log: Logger) {
  const error = 'error' in outcome ? outcome.error : undefined;
  ctx.onAnalysis?.(error ? 'undecodable' : via, error?.code);
  if (error) log.info({ code: error.code, reason: error.message }, 'image could not be analysed; facts stay null');
  else log.info({ via }, 'image analysed');
  return error;
}

/** The facts of `size` bytes fetched by `bytesOf`, or why there are none. */
async function outcomeOf(ctx: WorkerContext, size: number, bytesOf: () => Promise<Buffer>): Promise<AnalysisOutcome> {
  // Never read whole into memory past the bound (a worker may store files of a GB).
  const max = ctx.config.ANALYZE_MAX_BYTES;
  if (size > max) return { error: { code: 'too_large', message: `image of ${size} bytes is over the ${max} bytes analysed (ANALYZE_MAX_BYTES)` } };
  const bytes = await bytesOf();
  try {
    return { facts: await analyzeImage(bytes, ctx.config.MAX_IMAGE_PIXELS) };
  } catch (err) {
    if (err instanceof UndecodableImage) return { error: { code: err.code, message: err.message } };
    throw err;
  }
}

/** The whole object in memory (sharp decodes from a buffer); bounded by its recorded size. */
async function readObject(ctx: WorkerContext, key: string, size: number): Promise<Buffer> {
  const body = await ctx.store.getStream(key);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > size) {
      body.destroy();
      throw errors.internal(`stored object ${key} is larger than its recorded ${size} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

async function announceAnalyzed(
  ctx: WorkerContext,
  assetId: string,
  error: { code: string; message: string } | undefined,
  /** Unknown (undefined): the webhook step reads the asset's callback itself. */
  hasCallback: boolean | undefined,
): Promise<void> {
  const event = { assetId, status: 'analyzed' as const, ...(error ? { error } : {}) };
  await publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event);
  await enqueueWebhook(ctx, event, hasCallback);
}
