import { type Job, type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { Semaphore } from './semaphore.js';

/**
 * A BullMQ Worker that takes a slot of its process's pool *before* it moves a job to active, and
 * gives the slot back once that job has left active (completed, failed, delayed). Every queue's
 * Worker of a process draws from the one pool, so the process never holds more jobs locked as
 * active than it runs: a job waits in `wait`, where any idle process can take it, instead of
 * sitting active behind a local semaphore. Each Worker's own `concurrency` caps that queue's share
 * (webhook deliveries get a smaller one, so they never take every slot from rehosts).
 *
 * BullMQ fetches the next job inside the completion of the last one (`moveToCompleted(…, fetchNext)`,
 * one round trip instead of a wait-for-job and a `moveToActive`), past `moveToActive`: here that next
 * job inherits the finished job's slot, and it is asked for only while no other Worker of the process
 * waits for a slot — a backlogged queue never keeps the pool from the others.
 *
 * BullMQ's main loop fetches jobs one after another (up to `concurrency`) and starts processing
 * them only once it stops fetching. A fetch that waited for a slot while this Worker holds fetched,
 * not yet started jobs would wait on itself — and with several queues backlogged, every Worker
 * would (a deadlock: all slots held by jobs that never start). So a Worker waits for a slot only
 * when it holds none unstarted; otherwise it takes a free slot or fetches nothing, and its loop
 * goes on to start what it has.
 */
export class PooledWorker extends Worker {
  readonly #pool: Semaphore;
  /** Pool slots of the jobs this Worker holds active, by the job's lock token. */
  readonly #held = new Map<string, () => void>();
  /** Jobs this Worker moved to active whose processing has not started yet. */
  #unstarted = 0;
  /** Tokens of jobs being processed: a fetch under one of them is BullMQ's fetch of the next job, in that job's slot. */
  readonly #handingOver = new Set<string>();

  constructor(name: string, processor: Processor, opts: WorkerOptions, pool: Semaphore) {
    // Not started by the base constructor: the pool must be set before the first fetch.
    super(name, processor, { ...opts, autorun: false });
    this.#pool = pool;
    if (opts.autorun !== false) this.run().catch((err: unknown) => this.emit('error', err as Error));
  }

  protected override async moveToActive(token: string, name?: string): Promise<Job> {
    // BullMQ fetching the next job as the last one leaves active (after a delay): it takes that job's slot.
    if (this.#handingOver.has(token)) return super.moveToActive(token, name);
    const release = this.#unstarted > 0 ? this.#pool.tryAcquire() : await this.#pool.acquire();
    if (!release) return undefined as unknown as Job;
    // Closing while this fetch waited for a slot: take no new job.
    if (this.closing) {
      release();
      return undefined as unknown as Job;
    }
    try {
      const job = await super.moveToActive(token, name);
      if (job) {
        this.#held.set(token, release);
        this.#unstarted++;
      } else release();
      return job;
    } catch (err) {
      release();
      throw err;
    }
  }

  override async processJob(job: Job, token: string, fetchNext: () => boolean = () => true): Promise<void | Job> {
    this.#unstarted--;
    let next: Job | undefined;
    this.#handingOver.add(token);
    try {
      next = (await super.processJob(job, token, () => fetchNext() && this.#pool.waiters === 0)) || undefined;
      return next;
    } finally {
      this.#handingOver.delete(token);
      // The next job, fetched inside the completion under the same token, keeps this job's slot.
      if (next) this.#unstarted++;
      else {
        this.#held.get(token)?.();
        this.#held.delete(token);
      }
    }
  }
}
