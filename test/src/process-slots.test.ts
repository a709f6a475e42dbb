/**
 * A process holds only what it runs (issue 16): with WORKER_CONCURRENCY=2 and jobs on every
 * queue, BullMQ's own active lists never hold more than 2 of this process's jobs, and webhook
 * deliveries never more than their share. Read from Redis, not from our counters: a job locked as
 * active behind a local semaphore is exactly what this must catch.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { catalog, createRedis, MAINTENANCE_TASKS, type Redis } from '@rehost/jobs';
import { makePng } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { startStack, type Stack } from './stack.js';

/** Answers every request after `delayMs` (load, so jobs overlap; nothing here decides an interleaving). */
async function slowServer(delayMs: number, body: Buffer, type: string) {
  const server = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const png = makePng(24, 24);
let stack: Stack;
let origin: Awaited<ReturnType<typeof slowServer>>;
let receiver: Awaited<ReturnType<typeof slowServer>>;
let redis: Redis;

beforeAll(async () => {
  origin = await slowServer(150, png, 'image/png');
  receiver = await slowServer(150, Buffer.from('ok'), 'text/plain');
  stack = await startStack({
    env: {
      WORKER_CONCURRENCY: '2',
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      WEBHOOK_SIGNING_SECRET: 'whsec_process_slots_0123456789',
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      MAINTENANCE_INTERVAL_MS: '0',
    },
  });
  redis = createRedis(stack.services.env.REDIS_URL!);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
  await origin?.close();
  await receiver?.close();
});

const queues = Object.values(catalog).map((def) => def.queue);

/** Every queue's active list length, read in one transaction (one consistent moment). */
async function activeNow(): Promise<Record<string, number>> {
  const prefix = stack.services.env.QUEUE_PREFIX!;
  const multi = redis.multi();
  for (const q of queues) multi.llen(`${prefix}:${q}:active`);
  const replies = (await multi.exec()) as [Error | null, number][];
  return Object.fromEntries(queues.map((q, i) => [q, replies[i]![1]]));
}

describe('a worker process holds only what it runs', () => {
  it('with WORKER_CONCURRENCY=2 and jobs on every queue, at most 2 are active at any moment; webhooks at most their share', async () => {
    const assetIds: string[] = [];
    const submit: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      submit.push(
        stack
          .call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: `${origin.url}/img-${i}.png` }, callbackUrl: `${receiver.url}/hook-${i}` } })
          .then((res) => {
            expect(res.status).toBe(202);
            assetIds.push(res.body.assetId);
          }),
      );
    }
    for (let i = 0; i < 6; i++) {
      submit.push(
        (async () => {
          const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
          expect(await putUpload(created.body.upload, png)).toBe(200);
          expect((await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST' })).status).toBe(202);
          assetIds.push(created.body.assetId);
        })(),
      );
    }
    for (const task of MAINTENANCE_TASKS) submit.push(stack.apiCtx.queues.queues.maintenance.add('maintenance', { task }).then(() => undefined));

    // Sample BullMQ's active lists until every asset is terminal and every webhook delivered.
    let sampling = true;
    const max = { total: 0, webhook: 0 };
    const seen = new Set<string>();
    const sampler = (async () => {
      while (sampling) {
        const now = await activeNow();
        const total = Object.values(now).reduce((a, b) => a + b, 0);
        max.total = Math.max(max.total, total);
        max.webhook = Math.max(max.webhook, now[catalog.webhook.queue]!);
        for (const [q, n] of Object.entries(now)) if (n > 0) seen.add(q);
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all(submit);
    const assets = await Promise.all(assetIds.map((id) => waitTerminal(stack, id, 60_000)));
    expect(assets.map((a) => a.status)).toEqual(Array(18).fill('ready'));
    const webhooks = stack.apiCtx.queues.queues.webhook;
    const deadline = Date.now() + 30_000;
    while ((await webhooks.getCompletedCount()) < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sampling = false;
    await sampler;

    expect(await webhooks.getCompletedCount()).toBe(12);
    expect(max.total).toBeLessThanOrEqual(2);
    // Not vacuous: the process was saturated, and rehosts, finalizes and deliveries all ran.
    expect(max.total).toBe(2);
    for (const q of [catalog.rehost.queue, catalog.finalizeUpload.queue, catalog.webhook.queue]) expect(seen.has(q)).toBe(true);
    expect(max.webhook).toBe(1);
  });
});
