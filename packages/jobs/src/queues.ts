import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { catalog, jobIdFor, type Catalog, type JobKey } from './catalog.js';
import type { PayloadOf } from './define-job.js';
import { errors } from './errors.js';

/** The producer side: one BullMQ Queue per catalog entry, payloads parsed before they enter Redis. */
export class JobQueues {
  readonly queues: { [K in JobKey]: Queue };

  constructor(connection: Redis, readonly prefix: string) {
    const entries = Object.entries(catalog).map(([key, def]) => [key, new Queue(def.queue, { connection, prefix })]);
    this.queues = Object.fromEntries(entries) as { [K in JobKey]: Queue };
  }

  /** Enqueues once per asset: the job id is derived from the asset id. */
  async enqueue<K extends JobKey>(key: K, payload: PayloadOf<Catalog[K]>, opts: JobsOptions = {}): Promise<string> {
    const def = catalog[key];
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success) throw errors.badRequest(`invalid ${def.name} payload: ${z.prettifyError(parsed.error)}`);
    const data = parsed.data as { assetId: string };
    // Per-asset jobs only: maintenance runs through its schedulers (scheduleMaintenance / runMaintenanceNow).
    if (typeof data.assetId !== 'string') throw errors.internal(`${def.name} jobs are not enqueued per asset`);
    const job = await this.queues[key].add(def.name, data, {
      ...def.options,
      jobId: jobIdFor(key, data.assetId),
      ...opts,
    });
    return job.id!;
  }

  /** Enqueues an owner's erasure once (job id `erasure-<erasureId>`). */
  async enqueueErasure(erasureId: string): Promise<string> {
    const def = catalog.erasure;
    const job = await this.queues.erasure.add(def.name, def.payload.parse({ erasureId }), { ...def.options, jobId: `erasure-${erasureId}` });
    return job.id!;
  }

  /** Jobs waiting (not yet active) across the given queues: the back-pressure signal. */
  async waitingCount(keys: JobKey[] = Object.keys(catalog) as JobKey[]): Promise<number> {
    const counts = await Promise.all(keys.map((k) => this.queues[k].getWaitingCount()));
    return counts.reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((q) => q.close()));
  }
}
