import { type Job, type Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * Job `jobId` of `queue` once BullMQ has recorded it finished, completed or failed, as stored then;
 * rejects after `timeoutMs`. Waits on the queue's events (a QueueEvents subscription on its own
 * duplicate of `redis`, closed before returning), never by polling. An asset's event goes out
 * inside its job, before BullMQ records the end: whoever reads a job's outcome waits for this.
 */
export async function finishedJob(queue: Queue, redis: Redis, jobId: string, timeoutMs: number): Promise<Job> {
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const events = new QueueEvents(queue.name, { connection, prefix: queue.opts.prefix });
  try {
    const job = await queue.getJob(jobId);
    if (!job) throw new Error(`no job ${jobId} in queue ${queue.name}`);
    // Rejects for a failed job (finished too) and at the timeout: the stored job tells which.
    await job.waitUntilFinished(events, timeoutMs).catch(() => undefined);
    const now = await queue.getJob(jobId);
    if (!now?.finishedOn) throw new Error(`job ${jobId} of queue ${queue.name} did not finish within ${timeoutMs} ms`);
    return now;
  } finally {
    await events.close();
    connection.disconnect();
  }
}
