import { type Asset, MaintenanceRepo, type StagingOwner } from '@rehost/db';
import {
  type AssetEvent,
  errors,
  jobIdFor,
  JobQueues,
  type MaintenanceTask,
  publishAssetEvent,
  type RehostSource,
} from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import { assetIdOfStagingKey, PUBLIC_PREFIX, STAGING_PREFIX } from '@rehost/storage';
import type { WorkerContext } from '../context.js';
import type { Processor } from './types.js';
import { enqueueWebhook } from './webhook.processor.js';

/** Rows looked at per run and task; the next run continues (each task re-queries or resumes a cursor). */
const BATCH = 500;
/** Objects listed and ready assets checked per report run (a resumable scan: cursors in Redis). */
const OBJECT_PAGE = 1000;
const ASSET_PAGE = 200;
/** Re-enqueues of one stuck asset before it is failed instead (its job keeps disappearing). */
export const MAX_REQUEUES = 3;
/** Keys or ids kept per count, for the log line and the job result. */
const SAMPLE = 20;
/** HEADs in flight while checking ready assets. */
const HEAD_CONCURRENCY = 8;
/** BullMQ job states in which the job will still run (or is running). */
const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

type Outcome = { counts: Record<string, number>; samples?: Record<string, string[]> };

const parts = new WeakMap<WorkerContext, { repo: MaintenanceRepo; queues: JobQueues }>();
function partsOf(ctx: WorkerContext) {
  let p = parts.get(ctx);
  if (!p) {
    // Producer-side queues on the worker's shared connection: nothing of their own to close.
    p = { repo: new MaintenanceRepo(ctx.sql), queues: new JobQueues(ctx.redis, ctx.config.QUEUE_PREFIX) };
    parts.set(ctx, p);
  }
  return p;
}

const redisKey = (ctx: WorkerContext, name: string) => `${ctx.config.QUEUE_PREFIX}:maintenance:${name}`;

/** A terminal state reached outside a job still gets its completion event and callback. */
async function announce(ctx: WorkerContext, event: AssetEvent): Promise<void> {
  await publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event);
  await enqueueWebhook(ctx, event);
}

/** Pending uploads whose URL expired more than UPLOAD_EXPIRY_GRACE_SECONDS ago: `expired`, staging object deleted. */
async function expireUploads(ctx: WorkerContext, log: Logger): Promise<Outcome> {
  const { repo } = partsOf(ctx);
  const before = new Date(Date.now() - ctx.config.UPLOAD_EXPIRY_GRACE_SECONDS * 1000);
  const reason = errors.uploadExpired();
  const expired: string[] = [];
  for (const a of await repo.expirableUploads(before, BATCH)) {
    // Compare-and-set first: a `complete` that got in first wins, and its object stays.
    if (!(await repo.expire(a.id, { code: reason.code, message: reason.message }))) continue;
    expired.push(a.id);
    await announce(ctx, { assetId: a.id, status: 'expired', error: reason.toJSON() });
  }
  // Staging objects of expired assets: just expired, or left by an earlier run whose delete failed.
  let stagingDeleted = 0;
  let deleteErrors = 0;
  for (const a of await repo.expiredWithStagingKey(BATCH)) {
    try {
      await ctx.store.delete(a.stagingKey!);
      await repo.forgetStagingKey(a.id);
      stagingDeleted++;
    } catch (err) {
      deleteErrors++;
      log.warn({ err, assetId: a.id }, 'staging object delete failed; next run tries again');
    }
  }
  return { counts: { expired: expired.length, stagingDeleted, deleteErrors }, samples: { expired: expired.slice(0, SAMPLE) } };
}

/** Multipart uploads nobody finished (a worker killed mid-upload) older than MULTIPART_MAX_AGE_SECONDS. */
async function abortMultipart(ctx: WorkerContext, log: Logger): Promise<Outcome> {
  const cutoff = Date.now() - ctx.config.MULTIPART_MAX_AGE_SECONDS * 1000;
  const uploads = await ctx.store.listMultipartUploads('');
  const aborted: string[] = [];
  let abortErrors = 0;
  for (const u of uploads) {
    // An upload of unknown age is left alone: it may be in flight right now.
    if (!u.initiated || u.initiated.getTime() >= cutoff) continue;
    try {
      await ctx.store.abortMultipartUpload(u.key, u.uploadId);
      aborted.push(u.key);
    } catch (err) {
      abortErrors++;
      log.warn({ err, key: u.key }, 'multipart abort failed; next run tries again');
    }
  }
  return { counts: { open: uploads.length, aborted: aborted.length, abortErrors }, samples: { aborted: aborted.slice(0, SAMPLE) } };
}

function jobFor(a: Pick<Asset, 'id' | 'sourceType' | 'telegramFileId' | 'telegramFileUniqueId' | 'telegramBot' | 'sourceUrl'>) {
  if (a.sourceType === 'upload') return { key: 'finalizeUpload' as const, payload: { assetId: a.id } };
  const source: RehostSource =
    a.sourceType === 'telegram'
      ? { type: 'telegram', fileId: a.telegramFileId!, fileUniqueId: a.telegramFileUniqueId ?? undefined, bot: a.telegramBot ?? 'default' }
      : { type: 'url', url: a.sourceUrl! };
  return { key: 'rehost' as const, payload: { assetId: a.id, source } };
}

/**
 * `queued`/`processing` assets untouched for STUCK_AFTER_SECONDS whose job will never run again
 * (gone, or finished/failed without moving the asset: e.g. stalled too often, or the asset update
 * failed after the last attempt) are enqueued again under the same job id; after MAX_REQUEUES
 * they are failed, so nothing waits forever.
 */
async function requeueStuck(ctx: WorkerContext, log: Logger): Promise<Outcome> {
  const { repo, queues } = partsOf(ctx);
  const before = new Date(Date.now() - ctx.config.STUCK_AFTER_SECONDS * 1000);
  const stuck = await repo.stuckAssets(before, BATCH);
  const requeued: string[] = [];
  const failed: string[] = [];
  let alive = 0;
  for (const a of stuck) {
    const target = jobFor(a);
    const { key } = target;
    const job = await queues.queues[key].getJob(jobIdFor(key, a.id));
    const state = job ? await job.getState() : 'missing';
    if (LIVE_JOB_STATES.has(state)) {
      alive++;
      continue;
    }
    // The job may have finished the asset between our read and its state: look again.
    const now = await ctx.assets.get(a.id);
    if (!now || !['queued', 'processing'].includes(now.status)) continue;
    const countKey = redisKey(ctx, `requeues:${a.id}`);
    const n = await ctx.redis.incr(countKey);
    await ctx.redis.expire(countKey, 7 * 24 * 3600);
    if (n > MAX_REQUEUES) {
      const message = `processing was lost ${MAX_REQUEUES} times; giving up`;
      if (await ctx.assets.markFailed(a.id, 'internal', message)) {
        failed.push(a.id);
        await announce(ctx, { assetId: a.id, status: 'failed', error: { code: 'internal', message } });
      }
      continue;
    }
    // Same deterministic id: the finished job must go first, or adding it again is a no-op.
    if (job) await job.remove();
    if (target.key === 'rehost') await queues.enqueue('rehost', target.payload);
    else await queues.enqueue('finalizeUpload', target.payload);
    requeued.push(a.id);
    log.warn({ assetId: a.id, status: a.status, jobState: state, requeues: n }, 'stuck asset enqueued again');
  }
  return {
    counts: { stuck: stuck.length, alive, requeued: requeued.length, failed: failed.length },
    samples: { requeued: requeued.slice(0, SAMPLE), failed: failed.slice(0, SAMPLE) },
  };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Reports, never deletes: objects under `i/` that no live asset refers to (a delete that failed,
 * a job that stored but never recorded), and ready assets whose object is gone (data loss to
 * look into). Objects younger than STUCK_AFTER_SECONDS are skipped: their job may be recording
 * them right now. Each run covers one page of each scan and resumes where the last one stopped.
 */
async function reportOrphans(ctx: WorkerContext, log: Logger): Promise<Outcome> {
  const { repo } = partsOf(ctx);
  const objectCursorKey = redisKey(ctx, 'orphans:object-cursor');
  const assetCursorKey = redisKey(ctx, 'orphans:asset-cursor');

  const page = await ctx.store.listObjects(PUBLIC_PREFIX, { startAfter: (await ctx.redis.get(objectCursorKey)) ?? undefined, limit: OBJECT_PAGE });
  const settledBefore = Date.now() - ctx.config.STUCK_AFTER_SECONDS * 1000;
  const settled = page.objects.filter((o) => o.lastModified && o.lastModified.getTime() < settledBefore).map((o) => o.key);
  const live = await repo.liveKeysAmong(settled);
  const orphanObjects = settled.filter((k) => !live.has(k));
  await ctx.redis.set(objectCursorKey, page.done ? '' : (page.objects.at(-1)?.key ?? ''));

  const ready = await repo.readyAssetsAfter((await ctx.redis.get(assetCursorKey)) || undefined, ASSET_PAGE);
  const keys = [...new Set(ready.map((a) => a.key).filter((k): k is string => Boolean(k)))];
  const present = await mapLimit(keys, HEAD_CONCURRENCY, async (k) => [k, (await ctx.store.head(k)) !== undefined] as const);
  const gone = new Set(present.filter(([, ok]) => !ok).map(([k]) => k));
  const missingObjects = ready.filter((a) => a.key && gone.has(a.key)).map((a) => a.id);
  await ctx.redis.set(assetCursorKey, ready.length < ASSET_PAGE ? '' : (ready.at(-1)?.id ?? ''));

  if (orphanObjects.length > 0) log.warn({ count: orphanObjects.length, keys: orphanObjects.slice(0, SAMPLE) }, 'objects without a live asset');
  if (missingObjects.length > 0) log.error({ count: missingObjects.length, assetIds: missingObjects.slice(0, SAMPLE) }, 'ready assets whose object is gone');
  return {
    counts: { objectsScanned: page.objects.length, orphanObjects: orphanObjects.length, assetsScanned: ready.length, missingObjects: missingObjects.length },
    samples: { orphanObjects: orphanObjects.slice(0, SAMPLE), missingObjects: missingObjects.slice(0, SAMPLE) },
  };
}

/** Why a staging object may go; undefined while its asset may still need it. */
function stagingVerdict(owner: StagingOwner | undefined, settled: boolean): string | undefined {
  if (!owner) return settled ? 'unknown' : undefined;
  // Published: its bytes live under i/ now; the object is a leftover, or a re-PUT through a still-valid URL.
  if (owner.status === 'ready' && !owner.deleted) return 'ready';
  // Old enough that no finalize run can still be reading it (a run that lost a race, a delete mid-job).
  if (!settled) return undefined;
  if (owner.deleted) return 'assetDeleted';
  if (owner.status === 'failed' || owner.status === 'expired') return owner.status;
  return undefined; // pending_upload, queued, processing: the upload or its check is under way
}

/**
 * Objects under `staging/` whose asset no longer needs them: after finalize (and when a still-valid
 * URL re-creates one afterwards), after a failure, an expiry or a DELETE, or with no asset at all.
 * A ready asset's object goes at once; the others once older than STAGING_SWEEP_MIN_AGE_SECONDS;
 * a pending or processing asset's never. One listing page per run, resumed from a cursor in Redis.
 */
async function sweepStaging(ctx: WorkerContext, log: Logger): Promise<Outcome> {
  const { repo } = partsOf(ctx);
  const cursorKey = redisKey(ctx, 'staging:cursor');
  const page = await ctx.store.listObjects(STAGING_PREFIX, { startAfter: (await ctx.redis.get(cursorKey)) ?? undefined, limit: OBJECT_PAGE });
  const objects = page.objects.map((o) => ({ ...o, assetId: assetIdOfStagingKey(o.key) }));
  const owners = await repo.stagingOwners(objects.flatMap((o) => (o.assetId ? [{ key: o.key, assetId: o.assetId }] : [])));
  const settledBefore = Date.now() - ctx.config.STAGING_SWEEP_MIN_AGE_SECONDS * 1000;

  const counts: Record<string, number> = { scanned: objects.length, deleted: 0, kept: 0, deleteErrors: 0 };
  const doomed: { key: string; why: string }[] = [];
  for (const o of objects) {
    const settled = o.lastModified !== undefined && o.lastModified.getTime() <= settledBefore;
    const why = stagingVerdict(owners.get(o.key), settled);
    if (why) doomed.push({ key: o.key, why });
    else counts.kept!++;
  }
  const deleted: string[] = [];
  await mapLimit(doomed, HEAD_CONCURRENCY, async ({ key, why }) => {
    try {
      await ctx.store.delete(key);
      deleted.push(key);
      counts[why] = (counts[why] ?? 0) + 1;
    } catch (err) {
      counts.deleteErrors!++;
      log.warn({ err, key }, 'staging object delete failed; a later run tries again');
    }
  });
  counts.deleted = deleted.length;
  await ctx.redis.set(cursorKey, page.done ? '' : (page.objects.at(-1)?.key ?? ''));
  return { counts, samples: { deleted: deleted.sort().slice(0, SAMPLE) } };
}

const TASKS: Record<MaintenanceTask, (ctx: WorkerContext, log: Logger) => Promise<Outcome>> = {
  'expire-uploads': expireUploads,
  'abort-multipart': abortMultipart,
  'requeue-stuck': requeueStuck,
  'report-orphans': reportOrphans,
  'sweep-staging': sweepStaging,
};

/** Runs one sweeper task; the counts go to the log and the job result (Bull Board shows them). */
export const maintenance: Processor<'maintenance'> = async ({ data, log }, ctx) => {
  const started = performance.now();
  const outcome = await TASKS[data.task](ctx, log);
  log.info({ task: data.task, counts: outcome.counts, ms: Math.round(performance.now() - started) }, 'maintenance task done');
  return { task: data.task, ...outcome };
};
