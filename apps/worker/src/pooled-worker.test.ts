import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestRedis, type TestRedis } from '@rehost/testing';
import { Queue } from 'bullmq';
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
});
