import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AssetEvent, createRedis, publishAssetEvent, type Redis, type StreamedEvent, subscribeAssetEvents } from '@rehost/jobs';
import { makePng } from '@rehost/testing';
import { putUpload } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  stack = await startStack();
  redis = createRedis(stack.services.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

/** A real finalize job, so the event comes from the worker. */
async function uploadOne(w: number): Promise<string> {
  const png = makePng(w, 5);
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
  await putUpload(res.body.upload, png);
  await stack.call(`/v1/uploads/${res.body.assetId}/complete`, { method: 'POST' });
  return res.body.assetId as string;
}

/** Collects events and lets a test await the one for a given asset. */
function collector() {
  const seen: StreamedEvent[] = [];
  const waiters = new Map<string, (e: StreamedEvent) => void>();
  return {
    seen,
    onEvent: (e: StreamedEvent) => {
      // Completion events only: `analyzed` (image facts, after `ready`) is analyze.test.ts's.
      if (e.event.status === 'analyzed') return;
      seen.push(e);
      waiters.get(e.event.assetId)?.(e);
    },
    next: (assetId: string) =>
      new Promise<StreamedEvent>((resolve) => {
        const hit = seen.find((e) => e.event.assetId === assetId);
        if (hit) resolve(hit);
        else waiters.set(assetId, resolve);
      }),
  };
}

describe('subscribeAssetEvents', () => {
  it('a subscriber that restarts from its last id sees every event exactly once, in order', async () => {
    const prefix = stack.services.env.QUEUE_PREFIX!;
    const first = collector();
    const sub1 = subscribeAssetEvents(redis, prefix, first.onEvent, { blockMs: 200 });
    await sub1.ready;

    const a = await uploadOne(3);
    await first.next(a);
    const b = await uploadOne(4);
    await first.next(b);
    const lastId = first.seen.at(-1)!.id; // what a real subscriber persists after handling
    await sub1.stop();

    // While it is down, more jobs finish.
    const done = collector();
    const watcher = subscribeAssetEvents(redis, prefix, done.onEvent, { blockMs: 200 });
    await watcher.ready;
    const c = await uploadOne(6);
    await done.next(c);
    const d = await uploadOne(7);
    await done.next(d);
    await watcher.stop();

    const second = collector();
    const sub2 = subscribeAssetEvents(redis, prefix, second.onEvent, { from: lastId, blockMs: 200 });
    await sub2.ready;
    const e = await uploadOne(9);
    await second.next(e);
    await sub2.stop();

    const mine = (s: StreamedEvent[]) => s.map((x) => x.event.assetId).filter((id) => [a, b, c, d, e].includes(id));
    expect(mine(first.seen)).toEqual([a, b]);
    // Resumed after b: c and d (missed while down) replay first, then e live; nothing twice.
    expect(mine(second.seen)).toEqual([c, d, e]);
    for (const s of [...first.seen, ...second.seen]) expect(s.event.status).toBe('ready');
    // Stream ids only grow, so "the last id handled" is a sound resume point.
    const ids = second.seen.map((s) => s.id);
    expect([...ids].sort(compareIds)).toEqual(ids);
  });

  it('replays from "0" and skips malformed entries', async () => {
    const prefix = `{ev-${Date.now()}}`;
    const ev: AssetEvent = { assetId: '11111111-1111-4111-8111-111111111111', status: 'failed', error: { code: 'not_an_image', message: 'x' } };
    await publishAssetEvent(redis, prefix, ev);
    await redis.xadd(`${prefix}:asset-events`, '*', 'event', '{"not":"an event"}');
    await publishAssetEvent(redis, prefix, { ...ev, assetId: '22222222-2222-4222-8222-222222222222' });
    const got = collector();
    const sub = subscribeAssetEvents(redis, prefix, got.onEvent, { from: '0', blockMs: 200 });
    await got.next('22222222-2222-4222-8222-222222222222');
    await sub.stop();
    await redis.del(`${prefix}:asset-events`);
    expect(got.seen.map((s) => s.event)).toEqual([ev, { ...ev, assetId: '22222222-2222-4222-8222-222222222222' }]);
  });
});

function compareIds(x: string, y: string): number {
  const [xm, xs] = x.split('-').map(BigInt);
  const [ym, ys] = y.split('-').map(BigInt);
  return xm! === ym! ? Number(xs! - ys!) : xm! < ym! ? -1 : 1;
}
