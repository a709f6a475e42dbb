import { type Job, UnrecoverableError, Worker } from 'bullmq';
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
import { startMaintenanceWorker } from './maintenance-worker.js';
import { discardStagedUpload } from './processors/finalize-upload.processor.js';
import type { AssetJobKey, Processors } from './processors/types.js';
import { enqueueWebhook } from './processors/webhook.processor.js';
import { Semaphore } from './semaphore.js';

export interface WorkerHooks {
  /** After every run (metrics); `assetId` lets the hook look up what the run stored. */
  onJobDone?: (queue: string, outcome: 'ready' | 'failed' | 'retry', seconds: number, storedBytes: number) => void;
}

/** What happens to an asset whose job fails for good, per job kind (beyond marking it failed). */
const onPermanentFailure: Partial<Record<JobKey, (assetId: string, ctx: WorkerContext) => Promise<void>>> = {
  finalizeUpload: discardStagedUpload,
};

/**
 * Runs one BullMQ Worker per catalog entry. Payloads are parsed again when dequeued
 * (a bad payload is an UnrecoverableError: never retried). WORKER_CONCURRENCY bounds
 * jobs in flight across all queues of this process.
 */
export function startWorkers(ctx: WorkerContext, processors: Processors, hooks: WorkerHooks = {}) {
  const { config, log } = ctx;
  const slots = new Semaphore(config.WORKER_CONCURRENCY);
  const workers: Worker[] = [];

  for (const key of Object.keys(catalog) as JobKey[]) {
    if (key === 'maintenance') {
      // Concerns no single asset: no asset to fail, no completion event (see maintenance-worker.ts).
      workers.push(startMaintenanceWorker(ctx, processors.maintenance));
      continue;
    }
    const def = catalog[key];
    const processor = processors[key] as Processors[AssetJobKey];
    const worker: Worker = new Worker(
      def.queue,
      async (job: Job, token?: string) => {
        const parsed = def.payload.safeParse(job.data);
        if (!parsed.success) throw new UnrecoverableError(`invalid ${def.name} payload`);
        const data = parsed.data as { assetId: string };
        const jobLog = log.child({ queue: def.queue, jobId: job.id, assetId: data.assetId });
        const release = await slots.acquire();
        const started = performance.now();
        const abort = new AbortController();
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
          return result;
        } catch (err) {
          abort.abort();
          const appErr = err instanceof AppError ? err : undefined;
          const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          if (appErr?.code === 'rate_limited' && appErr.retryAfterSeconds && !lastAttempt) {
            // Telegram said "slow down": pause this queue for retry_after, then try the job again.
            await worker.rateLimit(appErr.retryAfterSeconds * 1000);
            throw Worker.RateLimitError();
          }
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
          release();
          void token;
        }
      },
      {
        connection: ctx.redis,
        prefix: config.QUEUE_PREFIX,
        concurrency: config.WORKER_CONCURRENCY,
        lockDuration: config.WORKER_LOCK_DURATION_MS,
        stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
        maxStalledCount: 3,
        // Global bound; each bot is held to its own rate by waitForBotSlot (pipeline/bot-rate-gate.ts).
        ...(key === 'rehost' ? { limiter: { max: config.TELEGRAM_RATE_PER_SECOND * Math.max(1, ctx.bots.names().length), duration: 1000 } } : {}),
      },
    );
    worker.on('error', (err) => log.error({ err, queue: def.queue }, 'worker error'));
    workers.push(worker);
  }

  return {
    workers,
    /** Stops taking jobs, lets running ones finish within `graceMs`, then closes. */
    async close(graceMs = config.WORKER_SHUTDOWN_GRACE_MS): Promise<void> {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([graceful, timeout])) === 'timeout') {
        log.warn({ graceMs }, 'jobs still running at shutdown; leaving them to stalled-job recovery');
        await Promise.all(workers.map((w) => w.close(true)));
      }
    },
  };
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
async function announce(ctx: WorkerContext, result: AssetEvent | ResultOf<Catalog['webhook']>, hasCallback?: boolean): Promise<void> {
  if (!(TERMINAL_STATUSES as readonly string[]).includes(result.status)) return;
  const event = result as AssetEvent;
  await publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event);
  await enqueueWebhook(ctx, event, hasCallback);
}
