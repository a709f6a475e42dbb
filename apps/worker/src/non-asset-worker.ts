import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import { catalog } from '@rehost/jobs';
import type { WorkerContext } from './context.js';
import { PooledWorker } from './pooled-worker.js';
import type { NonAssetJobKey, Processor } from './processors/types.js';
import type { Semaphore } from './semaphore.js';

/**
 * The BullMQ Worker of a queue whose jobs concern no single asset — the maintenance sweeper and
 * owners' erasures — so the asset path of `startWorkers` (fail the asset, announce it) does not
 * apply: a failed run is retried with backoff (a sweep also simply runs again at its next
 * interval). One job at a time per process, in a slot of the process's pool (`pool`, see pooled-worker.ts).
 */
export function startNonAssetWorker<K extends NonAssetJobKey>(ctx: WorkerContext, key: K, processor: Processor<K>, pool: Semaphore): Worker {
  const def = catalog[key];
  const { config } = ctx;
  const worker: Worker = new PooledWorker(
    def.queue,
    async (job: Job) => {
      const parsed = def.payload.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid ${def.name} payload`);
      const log = ctx.log.child({ queue: def.queue, jobId: job.id, ...parsed.data });
      try {
        const run = { id: job.id!, data: parsed.data as never, attemptsMade: job.attemptsMade, log, signal: new AbortController().signal, reportStored: () => {} };
        return await processor(run, ctx);
      } catch (err) {
        log.warn({ err, attempt: job.attemptsMade + 1 }, `${def.name} job failed`);
        throw err;
      }
    },
    {
      connection: ctx.redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: 1,
      lockDuration: config.WORKER_LOCK_DURATION_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: 3,
    },
    pool,
  );
  worker.on('error', (err) => ctx.log.error({ err, queue: def.queue }, 'worker error'));
  return worker;
}
