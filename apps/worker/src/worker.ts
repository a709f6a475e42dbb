import { DelayedError, type Job, UnrecoverableError, type Worker } from 'bullmq';
import {
  type AssetEvent,
  AppError,
  type Catalog,
  catalog,
  type JobKey,
  publishAssetEvent,
  type ResultOf,
  TERMINAL_STATUSES,
} from '@rehost/jobs';
import type { WorkerContext } from './context.js';
import { startNonAssetWorker } from './non-asset-worker.js';
import { wakeFollowersOfFailed } from './pipeline/follower-wake.js';
import { analyzeAfterReady } from './processors/analyze.processor.js';
import { discardStagedUpload } from './processors/finalize-upload.processor.js';
import { type AssetJobKey, type Processors, WaitAndRecheck } from './processors/types.js';
import { enqueueWebhook } from './processors/webhook.processor.js';
import { PooledWorker } from './pooled-worker.js';
import { Semaphore } from './semaphore.js';

export interface WorkerHooks {
  /** After every run (metrics); `assetId` lets the hook look up what the run stored. */
  onJobDone?: (queue: string, outcome: 'ready' | 'failed' | 'retry', seconds: number, storedBytes: number) => void;
}

/** What happens to an asset whose job fails for good, per job kind (beyond marking it failed). */
const onPermanentFailure: Partial<Record<JobKey, (assetId: string, ctx: WorkerContext) => Promise<void>>> = {
  finalizeUpload: discardStagedUpload,
  // Its claim on the file is released: a waiting follower takes over now, not at its next re-check.
  rehost: wakeFollowersOfFailed,
};

/**
 * How many of a process's slots webhook deliveries may hold at once: a quarter (at least one), so
 * slow receivers never take every slot from rehosts and finalizes (with WORKER_CONCURRENCY=1 the
 * one slot is shared).
 */
export const webhookSlots = (concurrency: number) => Math.max(1, Math.floor(concurrency / 4));

/**
 * Runs one BullMQ Worker per catalog entry. Payloads are parsed again when dequeued
 * (a bad payload is an UnrecoverableError: never retried). WORKER_CONCURRENCY bounds the jobs
 * this process holds active across all its queues: every Worker takes a slot of one pool
 * before it takes a job (pooled-worker.ts), so none sits locked as active without running.
 */
export function startWorkers(ctx: WorkerContext, processors: Processors, hooks: WorkerHooks = {}) {
  const { config, log } = ctx;
  const pool = new Semaphore(config.WORKER_CONCURRENCY);
  const workers: Worker[] = [];
  /** The jobs running now, to abort at the end of the shutdown grace. */
  const running = new Set<AbortController>();
  let abandoning = false;
  /** Resolves once no job handler is running (after an abort, each lets go as it sees its signal). */
  let onIdle: (() => void) | undefined;
  const idle = () => (running.size === 0 ? Promise.resolve() : new Promise<void>((r) => (onIdle = r)));

  for (const key of Object.keys(catalog) as JobKey[]) {
    if (key === 'maintenance' || key === 'erasure') {
      // Concern no single asset: no asset to fail, no completion event (see non-asset-worker.ts).
      workers.push(
        key === 'maintenance'
          ? startNonAssetWorker(ctx, key, processors.maintenance, pool)
          : startNonAssetWorker(ctx, key, processors.erasure, pool),
      );
      continue;
    }
    const def = catalog[key];
    const processor = processors[key] as Processors[AssetJobKey];
    const worker: Worker = new PooledWorker(
      def.queue,
      async (job: Job, token?: string) => {
        const parsed = def.payload.safeParse(job.data);
        if (!parsed.success) throw new UnrecoverableError(`invalid ${def.name} payload`);
        const data = parsed.data as { assetId: string };
        const jobLog = log.child({ queue: def.queue, jobId: job.id, assetId: data.assetId });
        const started = performance.now();
        const abort = new AbortController();
        running.add(abort);
        let storedBytes = 0;
        const reportStored = (bytes: number) => {
          storedBytes += bytes;
        };
        // Whether the asset wants a callback, as its processor read it (saves announce() a read).
        let hasCallback: boolean | undefined;
        const noteCallback = (wanted: boolean) => {
          hasCallback = wanted;
        };
        try {
          const result = await processor(
            { id: job.id!, data: data as never, attemptsMade: job.attemptsMade, log: jobLog, signal: abort.signal, reportStored, noteCallback },
            ctx,
          );
          await announce(ctx, result, hasCallback);
          hooks.onJobDone?.(def.queue, result.status === 'ready' ? 'ready' : 'failed', (performance.now() - started) / 1000, storedBytes);
          // The image facts follow readiness, off its critical path: here when this process holds
          // the bytes it just stored, else in an analyze job (either announces `analyzed`).
          if (result.status === 'ready') await analyzeAfterReady(ctx, data.assetId, hasCallback, jobLog);
          return result;
        } catch (err) {
          abort.abort();
          if (abandoning) {
            // Cut short by shutdown: neither a failure nor a retry. The job never settles here; its
            // lock lapses once this process is gone and another worker takes it up (stalled-job recovery).
            jobLog.info({ err }, 'job interrupted by shutdown; left to stalled-job recovery');
            return new Promise<never>(() => {});
          }
          if (err instanceof WaitAndRecheck) {
            // Another asset is storing the same file: look again later, no attempt used up.
            await job.updateData({ ...job.data, ...err.data });
            await job.moveToDelayed(Date.now() + err.delayMs, token);
            hooks.onJobDone?.(def.queue, 'retry', (performance.now() - started) / 1000, storedBytes);
            throw new DelayedError();
          }
          const appErr = err instanceof AppError ? err : undefined;
          const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          if (appErr?.permanent || lastAttempt) {
            const code = appErr?.code ?? 'internal';
            const message = appErr?.message ?? 'processing failed after retries';
            jobLog.warn({ code, err: appErr ? undefined : err }, 'job failed for good');
            await failAsset(ctx, key, data.assetId, code, message, hasCallback);
            hooks.onJobDone?.(def.queue, 'failed', (performance.now() - started) / 1000, storedBytes);
            // The job completes: the asset carries the failure; BullMQ must not retry.
            return { assetId: data.assetId, status: 'failed', error: { code, message } };
          }
          jobLog.info({ code: appErr?.code, err: appErr ? undefined : err, attempt: job.attemptsMade + 1 }, 'job will be retried');
          hooks.onJobDone?.(def.queue, 'retry', (performance.now() - started) / 1000, storedBytes);
          throw err;
        } finally {
          running.delete(abort);
          if (running.size === 0) onIdle?.();
        }
      },
      {
        connection: ctx.redis,
        prefix: config.QUEUE_PREFIX,
        // The pool bounds the sum; this is the queue's share of it.
        concurrency: key === 'webhook' ? webhookSlots(config.WORKER_CONCURRENCY) : config.WORKER_CONCURRENCY,
        lockDuration: config.WORKER_LOCK_DURATION_MS,
        stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
        maxStalledCount: 3,
        // No queue limiter: it would hold url sources to the Telegram rate. Each bot is held to its
        // rate around its Bot API calls only (pipeline/bot-rate-gate.ts, bot-pause.ts).
      },
      pool,
    );
    worker.on('error', (err) => log.error({ err, queue: def.queue }, 'worker error'));
    workers.push(worker);
  }

  return {
    workers,
    /**
     * Stops taking jobs and lets running ones finish within `graceMs`. Jobs still running then are
     * aborted (their signal: a multipart upload is abandoned, a download cut) and left to
     * stalled-job recovery; after at most `abortMs` more it returns, whether or not they let go —
     * a call to a store or database that stopped answering must not hold the process. Resolves
     * `drained` when every job finished, `abandoned` otherwise (the workers may then still be open:
     * the caller is about to exit).
     */
    async close(graceMs = config.WORKER_SHUTDOWN_GRACE_MS, abortMs = SHUTDOWN_ABORT_MS): Promise<'drained' | 'abandoned'> {
      // One graceful close: BullMQ's close(true) after close() returns that same pending promise.
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => 'drained' as const);
      if ((await within(graceful, graceMs)) === 'drained') return 'drained';
      log.warn({ graceMs, jobs: running.size }, 'jobs still running at shutdown; leaving them to stalled-job recovery');
      abandoning = true;
      for (const a of running) a.abort(new Error('worker shutting down'));
      await within(idle(), abortMs);
      return 'abandoned';
    },
  };
}

/** After the shutdown grace: how long aborted jobs get to let go before close() returns anyway. */
const SHUTDOWN_ABORT_MS = 2000;

/** `promise`'s value if it settles within `ms`, else undefined (the timer does not hold the process). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function failAsset(
  ctx: WorkerContext,
  key: JobKey,
  assetId: string,
  code: string,
  message: string,
  hasCallback?: boolean,
): Promise<void> {
  const failed = await ctx.assets.markFailed(assetId, code, message);
  await onPermanentFailure[key]?.(assetId, ctx).catch((err) => ctx.log.warn({ err, assetId }, 'clean-up after failure failed'));
  // Another run already settled the asset (ready, failed or deleted): a 'failed' event would contradict it.
  if (!failed) return;
  await announce(ctx, { assetId, status: 'failed', error: { code, message } }, hasCallback);
}

/**
 * Every terminal result becomes a completion event (CONTRACT.md §5), and a signed callback
 * when the asset asked for one. Webhook jobs report deliveries, not asset states: no event.
 */
async function announce(
  ctx: WorkerContext,
  result: AssetEvent | ResultOf<Catalog['webhook']> | ResultOf<Catalog['analyze']>,
  hasCallback?: boolean,
): Promise<void> {
  if (!(TERMINAL_STATUSES as readonly string[]).includes(result.status)) return;
  const event = result as AssetEvent;
  await publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event);
  await enqueueWebhook(ctx, event, hasCallback);
}
