import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { finishedJob } from './finished-job.js';

/**
 * What the sweeper does, one repeatable job per task (each has its own scheduler, so a slow
 * task does not hold up the others):
 * - `expire-uploads`: pending uploads never completed (URL expired + grace) become `expired`; staging object deleted.
 * - `abort-multipart`: unfinished multipart uploads older than a bound are aborted.
 * - `requeue-stuck`: `queued`/`processing` assets whose job is gone are enqueued again (failed after a few tries).
 * - `report-orphans`: objects under `i/` no live asset refers to, and ready assets whose object is gone —
 *   logged and counted, never deleted (a wrong guess here would lose data).
 * - `sweep-staging`: objects under `staging/` whose asset is settled (ready, failed, expired), deleted or
 *   unknown are deleted (a ready asset's at once, the others past a minimum age; pending/processing never).
 * Task names are stored in Redis (scheduler ids, job data): rename only with a migration plan.
 */
export const MAINTENANCE_TASKS = ['expire-uploads', 'abort-multipart', 'requeue-stuck', 'report-orphans', 'sweep-staging'] as const;
export type MaintenanceTask = (typeof MAINTENANCE_TASKS)[number];

export const maintenanceJob = defineJob({
  // Queue and job names are stored in Redis: rename only with a migration plan.
  queue: 'maintenance',
  name: 'maintenance',
  payload: z.object({ task: z.enum(MAINTENANCE_TASKS) }),
  result: z.object({
    task: z.enum(MAINTENANCE_TASKS),
    /** What the run looked at and did, by name (`expired: 3`, `orphanObjects: 1`, …). */
    counts: z.record(z.string(), z.number().int()),
    /** A few of the keys or asset ids behind the counts, for the operator (bounded). */
    samples: z.record(z.string(), z.array(z.string())).optional(),
  }),
  options: {
    // A failed sweep is simply run again at the next interval; a few quick retries cover blips.
    attempts: 3,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 200 },
  },
});

/** Scheduler id of a task: one per task, so registering again (every worker start) replaces, never adds. */
export const maintenanceSchedulerId = (task: MaintenanceTask): string => `maintenance:${task}`;

/**
 * Registers (or updates) one job scheduler per task, every `everyMs`. Idempotent: each worker
 * process calls it at start; all of them share the same schedulers. `everyMs = 0` removes them.
 */
export async function scheduleMaintenance(queue: Queue, everyMs: number): Promise<void> {
  for (const task of MAINTENANCE_TASKS) {
    const id = maintenanceSchedulerId(task);
    if (everyMs <= 0) {
      await queue.removeJobScheduler(id);
      continue;
    }
    await queue.upsertJobScheduler(
      id,
      { every: everyMs },
      { name: maintenanceJob.name, data: { task }, opts: maintenanceJob.options },
    );
  }
}

/** Runs one task now, outside its schedule (operators, tests). */
export async function runMaintenanceNow(queue: Queue, task: MaintenanceTask): Promise<string> {
  const job = await queue.add(maintenanceJob.name, maintenanceJob.payload.parse({ task }), maintenanceJob.options);
  return job.id!;
}

/**
 * Runs one task now and waits for its result, at most `timeoutMs` (a check, or an operator who
 * wants the counts); rejects with the task's failure.
 */
export async function runMaintenanceAndWait(queue: Queue, redis: Redis, task: MaintenanceTask, timeoutMs: number): Promise<unknown> {
  const job = await finishedJob(queue, redis, await runMaintenanceNow(queue, task), timeoutMs);
  if (await job.isFailed()) throw new Error(`maintenance task ${task} failed: ${job.failedReason}`);
  return job.returnvalue;
}
