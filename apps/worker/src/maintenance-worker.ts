import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { catalog } from '@rehost/jobs';
import type { WorkerContext } from './context.js';
import type { Processor } from './processors/types.js';

/**
 * The maintenance queue's BullMQ Worker. Its jobs concern no single asset, so the asset path of
 * `startWorkers` (fail the asset, announce it) does not apply: a failed sweep is retried a few
 * times and otherwise simply runs again at its next interval. One job at a time per process.
 */
export function startMaintenanceWorker(ctx: WorkerContext, processor: Processor<'maintenance'>): Worker {
  const def = catalog.maintenance;
  const { config } = ctx;
  const worker = new Worker(
    def.queue,
    async (job: Job) => {
      const parsed = def.payload.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid ${def.name} payload`);
      const log = ctx.log.child({ queue: def.queue, jobId: job.id, task: parsed.data.task });
      try {
        return await processor({ id: job.id!, data: parsed.data, attemptsMade: job.attemptsMade, log, signal: new AbortController().signal, reportStored: () => {} }, ctx);
      } catch (err) {
        log.warn({ err, attempt: job.attemptsMade + 1 }, 'maintenance task failed');
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
  );
  worker.on('error', (err) => ctx.log.error({ err, queue: def.queue }, 'worker error'));
  return worker;
}
