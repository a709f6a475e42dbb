import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestRedis, type TestRedis } from '@rehost/testing';
import { DelayedError, Queue } from 'bullmq';
import { PooledWorker } from './pooled-worker.js';
import { Semaphore } from './semaphore.js';

let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis();
});
afterAll(async () => {
  await r.cleanup();
});

describe('PooledWorker (real Redis)', () => {
  it('two backlogged queues sharing a pool smaller than their concurrencies finish everything (no deadlock)', async () => {
    // BullMQ fetches up to `concurrency` jobs before it starts any: fetches that waited for a slot
    // while their Worker held fetched jobs would hold the whole pool with jobs that never start.
    const pool = new Semaphore(4);
    const names = ['pool-a', 'pool-b'];
    const queues = names.map((n) => new Queue(n, { connection: r.redis, prefix: r.prefix }));
    await Promise.all(queues.map((q) => q.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'j', data: { i } })))));
    let done = 0;
    let maxInUse = 0;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    const connections = names.map(() => r.redis.duplicate());
    const workers = names.map(
      (n, i) =>
        new PooledWorker(
          n,
          async () => {
            maxInUse = Math.max(maxInUse, pool.inUse);
            await new Promise((res) => setTimeout(res, 20));
            if (++done === 40) finished();
          },
          { connection: connections[i]!, prefix: r.prefix, concurrency: 4 },
          pool,
        ),
    );
    const timeout = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 20_000).unref());
    try {
      expect(await Promise.race([all.then(() => 'done' as const), timeout])).toBe('done');
      expect(done).toBe(40);
      expect(maxInUse).toBeLessThanOrEqual(4);
    } finally {
      await Promise.all(workers.map((w) => w.close(true)));
      await Promise.all(queues.map((q) => q.close()));
      for (const c of connections) c.disconnect();
    }
  });

  it('a backlogged queue takes its next job inside the completion, within its slot, but never keeps the pool from a waiting queue', async () => {
    const pool = new Semaphore(2);
    const [busy, other] = ['pool-busy', 'pool-other'].map((n) => new Queue(n, { connection: r.redis, prefix: r.prefix }));
    await busy!.addBulk(Array.from({ length: 60 }, (_, i) => ({ name: 'j', data: { i } })));
    let busyDone = 0;
    let maxInUse = 0;
    let fetches = 0;
    let otherStartedAt = -1;
    let busyAtOtherAdded = -1;
    let otherDone!: () => void;
    const otherFinished = new Promise<void>((resolve) => (otherDone = resolve));
    let allBusyDone!: () => void;
    const busyFinished = new Promise<void>((resolve) => (allBusyDone = resolve));
    class Counting extends PooledWorker {
      protected override moveToActive(token: string, name?: string) {
        fetches++;
        return super.moveToActive(token, name);
      }
    }
    const connections = [r.redis.duplicate(), r.redis.duplicate()];
    const step = () => new Promise((res) => setTimeout(res, 15));
    const workers = [
      new Counting(
        'pool-busy',
        async () => {
          maxInUse = Math.max(maxInUse, pool.inUse);
          await step();
          busyDone++;
          if (busyDone === 10) {
            busyAtOtherAdded = busyDone;
            void other!.add('j', {});
          }
          if (busyDone === 60) allBusyDone();
        },
        { connection: connections[0]!, prefix: r.prefix, concurrency: 2 },
        pool,
      ),
      new PooledWorker(
        'pool-other',
        async () => {
          otherStartedAt = busyDone;
          await step();
          otherDone();
        },
        { connection: connections[1]!, prefix: r.prefix, concurrency: 2 },
        pool,
      ),
    ];
    const timeout = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 20_000).unref());
    try {
      expect(await Promise.race([Promise.all([otherFinished, busyFinished]).then(() => 'done' as const), timeout])).toBe('done');
      expect(maxInUse).toBeLessThanOrEqual(2);
      // Most of the backlog came inside completions: far fewer fetches than jobs.
      expect(fetches).toBeLessThan(30);
      // The other queue's job got the next free slot, not the one after the backlog drained.
      expect(otherStartedAt - busyAtOtherAdded).toBeLessThanOrEqual(6);
    } finally {
      await Promise.all(workers.map((w) => w.close(true)));
      await Promise.all([busy!.close(), other!.close()]);
      for (const c of connections) c.disconnect();
    }
  });

  it('jobs that delay themselves (DelayedError) and jobs that fail hand their slot on without leaking it', async () => {
    const pool = new Semaphore(2);
    const queue = new Queue('pool-delay', { connection: r.redis, prefix: r.prefix });
    await queue.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'j', data: { i }, opts: { attempts: 1 } })));
    const settled = new Set<number>();
    let maxInUse = 0;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    const connection = r.redis.duplicate();
    const worker: PooledWorker = new PooledWorker(
      'pool-delay',
      async (job, token) => {
        maxInUse = Math.max(maxInUse, pool.inUse);
        const { i } = job.data as { i: number };
        if (!job.data.delayed) {
          // Once each: back to delayed for a moment, no attempt spent (as WaitAndRecheck does).
          await job.updateData({ i, delayed: true });
          await job.moveToDelayed(Date.now() + 20, token);
          throw new DelayedError();
        }
        settled.add(i);
        if (settled.size === 30) setImmediate(finished);
        if (i % 3 === 0) throw new Error('fails for good');
      },
      { connection, prefix: r.prefix, concurrency: 2 },
      pool,
    );
    const timeout = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 20_000).unref());
    try {
      expect(await Promise.race([all.then(() => 'done' as const), timeout])).toBe('done');
      expect(maxInUse).toBeLessThanOrEqual(2);
      await worker.close();
      expect(pool.inUse).toBe(0);
    } finally {
      await worker.close(true);
      await queue.close();
      connection.disconnect();
    }
  });
});

