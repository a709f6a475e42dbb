/**
 * Issue 14: image facts after `ready` (placeholder, dominant colour, pHash), the `analyzed`
 * event and callback, facts shared with assets sharing the object, undecodable images, and
 * GET /v1/assets/:id/similar.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RehostClient } from '@rehost/client';
import { AnalysisRepo, AssetsRepo } from '@rehost/db';
import { createRedis, jobIdFor, type Redis, type StreamedEvent, subscribeAssetEvents } from '@rehost/jobs';
import { type BotApiDouble, startBotApiDouble } from '@rehost/testing';
import { hammingDistance } from '@rehost/worker/image-facts';
import { scenePng, twinsOf } from '@rehost/worker/image-fixtures';
import { finishedJob, waitTerminal } from './helpers.js';
import { type Receiver, startReceiver } from './receiver.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
let receiver: Receiver;
let redis: Redis;
let events: ReturnType<typeof eventLog>;
let sub: ReturnType<typeof subscribeAssetEvents>;

/** Every event of the stream, and a way to await one of a kind for an asset. */
function eventLog() {
  const seen: StreamedEvent[] = [];
  const waiters: { assetId: string; status: string; resolve: (e: StreamedEvent) => void }[] = [];
  return {
    seen,
    onEvent: (e: StreamedEvent) => {
      seen.push(e);
      for (const w of [...waiters]) {
        if (w.assetId === e.event.assetId && w.status === e.event.status) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    },
    next: (assetId: string, status: string, timeoutMs = 30_000) =>
      new Promise<StreamedEvent>((resolve, reject) => {
        const hit = seen.find((e) => e.event.assetId === assetId && e.event.status === status);
        if (hit) return resolve(hit);
        const timer = setTimeout(() => reject(new Error(`no ${status} event for ${assetId} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          assetId,
          status,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      }),
  };
}

beforeAll(async () => {
  bot = await startBotApiDouble();
  receiver = await startReceiver();
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      WEBHOOK_SIGNING_SECRET: 'whsec_analyze_0123456789',
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    },
  });
  redis = createRedis(stack.services.redis.url);
  events = eventLog();
  sub = subscribeAssetEvents(redis, stack.services.env.QUEUE_PREFIX!, events.onEvent, { blockMs: 200 });
  await sub.ready;
});
afterAll(async () => {
  await sub?.stop();
  redis?.disconnect();
  await stack?.close();
  await receiver?.close();
  await bot?.close();
});

let n = 0;
/** Stores `bytes` through a Telegram rehost and waits until its facts are recorded. */
async function stored(bytes: Buffer, extra: Record<string, unknown> = {}): Promise<any> {
  n++;
  const ids = { fileId: `an-${n}`, fileUniqueId: `an-u-${n}` };
  bot.addFile({ ...ids, bytes });
  return storedFile(ids, extra);
}

async function storedFile(ids: { fileId: string; fileUniqueId: string }, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...ids }, ...extra } });
  expect([200, 202]).toContain(res.status);
  const asset = await waitTerminal(stack, res.body.assetId);
  expect(asset.status).toBe('ready');
  await events.next(asset.id, 'analyzed');
  return (await stack.call(`/v1/assets/${asset.id}`)).body;
}

const similar = (id: string, query = '') => stack.call(`/v1/assets/${id}/similar${query}`);

describe('analysis after ready', () => {
  it('the view carries placeholder, dominantColor and phash once analysed; `analyzed` follows `ready` on the stream', async () => {
    const asset = await stored(await scenePng(1), { ownerId: 'facts' });
    expect(asset.placeholder).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(asset.dominantColor).toMatch(/^#[0-9a-f]{6}$/);
    expect(asset.phash).toMatch(/^[0-9a-f]{16}$/);
    const mine = events.seen.filter((e) => e.event.assetId === asset.id).map((e) => e.event.status);
    expect(mine).toEqual(['ready', 'analyzed']);
  });

  it('decodes the bytes this worker process has just stored, without reading them back from the store', async () => {
    const store = stack.workerCtx!.store;
    const reads: string[] = [];
    const getStream = store.getStream.bind(store);
    store.getStream = (key, opts) => {
      reads.push(key);
      return getStream(key, opts);
    };
    try {
      const asset = await stored(await scenePng(7), { ownerId: 'recent' });
      expect(asset.phash).toMatch(/^[0-9a-f]{16}$/);
      expect(reads.filter((key) => asset.url.endsWith(`/${key}`))).toEqual([]);
    } finally {
      store.getStream = getStream;
    }
  });

  it('is done by the job that stored the image: no analyze job is queued for it', async () => {
    const asset = await stored(await scenePng(9), { ownerId: 'in-job' });
    expect(asset.phash).toMatch(/^[0-9a-f]{16}$/);
    expect(await stack.apiCtx.queues.queues.analyze.getJob(jobIdFor('analyze', asset.id))).toBeUndefined();
  });

  it('falls back to an analyze job when the analysis in the job fails (a database error at record)', async () => {
    const record = AnalysisRepo.prototype.record;
    let failed = 0;
    AnalysisRepo.prototype.record = function (this: AnalysisRepo, ...args: Parameters<typeof record>) {
      if (failed++ === 0) return Promise.reject(new Error('connection terminated unexpectedly'));
      return record.apply(this, args);
    };
    try {
      const asset = await stored(await scenePng(10), { ownerId: 'in-job-fails' });
      expect(failed).toBe(2);
      expect(asset.phash).toMatch(/^[0-9a-f]{16}$/);
      const job = await finishedJob(stack.apiCtx.queues.queues.analyze, jobIdFor('analyze', asset.id));
      expect(job.returnvalue).toMatchObject({ status: 'analyzed', via: 'decoded' });
    } finally {
      AnalysisRepo.prototype.record = record;
    }
  });

  it('facts are recorded only for the object the asset names (bytes of a run that lost are never recorded)', async () => {
    const asset = await stored(await scenePng(11), { ownerId: 'key-guard' });
    const repo = new AnalysisRepo(stack.workerCtx!.sql);
    const other = { facts: { placeholder: 'AAAA', dominantColor: '#000000', phash: 'ffffffffffffffff' } };
    expect(await repo.record(asset.id, other, `i/${randomUUID()}.png`)).toBe(false);
    expect((await stack.call(`/v1/assets/${asset.id}`)).body.phash).toBe(asset.phash);
    expect(await repo.record(asset.id, other, asset.url.slice(asset.url.indexOf('/i/') + 1))).toBe(true);
    expect((await stack.call(`/v1/assets/${asset.id}`)).body.phash).toBe('ffffffffffffffff');
  });

  it('an image over ANALYZE_MAX_BYTES is not read: ready, facts null, too_large on the `analyzed` event', async () => {
    const config = stack.workerCtx!.config;
    const max = config.ANALYZE_MAX_BYTES;
    const reads: string[] = [];
    const store = stack.workerCtx!.store;
    const getStream = store.getStream.bind(store);
    store.getStream = (key, opts) => {
      reads.push(key);
      return getStream(key, opts);
    };
    config.ANALYZE_MAX_BYTES = 1000;
    try {
      n++;
      const ids = { fileId: `an-${n}`, fileUniqueId: `an-u-${n}` };
      bot.addFile({ ...ids, bytes: await scenePng(8) });
      const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...ids } } });
      const asset = await waitTerminal(stack, res.body.assetId);
      expect(asset.status).toBe('ready');
      const analyzed = await events.next(asset.id, 'analyzed');
      expect(analyzed.event.error).toMatchObject({ code: 'too_large' });
      expect((await stack.call(`/v1/assets/${asset.id}`)).body).toMatchObject({ status: 'ready', phash: null, placeholder: null });
      expect(reads.filter((key) => asset.url.endsWith(`/${key}`))).toEqual([]);
    } finally {
      config.ANALYZE_MAX_BYTES = max;
      store.getStream = getStream;
    }
  });

  it('a pending asset shows the three fields as null', async () => {
    const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 100 } });
    const view = (await stack.call(`/v1/assets/${res.body.assetId}`)).body;
    expect(view).toMatchObject({ status: 'pending_upload', placeholder: null, dominantColor: null, phash: null });
  });

  it('a callback gets the asset again when its facts arrive (second delivery, its own deliveryId)', async () => {
    const asset = await stored(await scenePng(2), { callbackUrl: `${receiver.url}/hook` });
    const hooks = await receiver.requests(asset.id, 2);
    const bodies = hooks.map((h) => JSON.parse(h.body));
    expect(new Set(bodies.map((b) => b.deliveryId)).size).toBe(2);
    for (const b of bodies) expect(b.status).toBe('ready');
    // The body is read at send time: at least the facts' delivery carries them.
    expect(bodies.some((b) => b.phash === asset.phash && b.placeholder === asset.placeholder)).toBe(true);
  });

  it('an asset sharing a stored object gets the same facts (copied, not decoded again)', async () => {
    n++;
    const ids = { fileId: `an-shared-${n}`, fileUniqueId: `an-shared-u-${n}` };
    bot.addFile({ ...ids, bytes: await scenePng(3) });
    const first = await storedFile(ids, { ownerId: 'alice' });
    const second = await storedFile(ids, { ownerId: 'bob' });
    expect(second.id).not.toBe(first.id);
    expect(second.key).toBe(first.key);
    expect(second).toMatchObject({ placeholder: first.placeholder, dominantColor: first.dominantColor, phash: first.phash });
  });

  it('an image that cannot be decoded stays ready with null facts; the reason is on the `analyzed` event', async () => {
    // A ready asset whose stored bytes libvips refuses (verification would have stopped them on the way in).
    const ctx = stack.workerCtx!;
    const counted: string[] = [];
    ctx.onAnalysis = (outcome, reason) => counted.push(`${outcome}:${reason ?? ''}`);
    const id = randomUUID();
    const key = `i/${id}.png`;
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('but nothing after the signature')]);
    await ctx.store.put(key, bytes, 'image/png');
    const assets = new AssetsRepo(ctx.sql);
    await assets.createUpload({ id, declaredContentType: 'image/png', declaredSize: bytes.length, stagingKey: `staging/${id}`, uploadExpiresAt: new Date(Date.now() + 60_000) });
    expect(await assets.markReady(id, { key, contentType: 'image/png', size: bytes.length, width: 1, height: 1, sha256: '0'.repeat(64), sourceSha256: null, orientation: null, metadataRemoved: [] })).toBeTruthy();
    await stack.apiCtx.queues.enqueue('analyze', { assetId: id });
    const { event } = await events.next(id, 'analyzed');
    expect(event.error?.code).toBe('undecodable');
    // Counted for the metrics (rehost_image_analyses_total{outcome="undecodable"}).
    expect(counted).toContain('undecodable:undecodable');
    const view = (await stack.call(`/v1/assets/${id}`)).body;
    expect(view).toMatchObject({ status: 'ready', placeholder: null, dominantColor: null, phash: null });
    expect((await similar(id)).body.error.code).toBe('not_analyzed');
  });
});

describe('GET /v1/assets/:id/similar', () => {
  let original: any;
  let twins: any[];
  let others: any[];
  let bobs: any;
  let noOwner: any[];

  beforeAll(async () => {
    const png = await scenePng(40);
    const t = await twinsOf(png);
    original = await stored(png, { ownerId: 'sim' });
    twins = [await stored(t.jpegQ70, { ownerId: 'sim' }), await stored(t.half, { ownerId: 'sim' }), await stored(t.exifRotated, { ownerId: 'sim' })];
    others = [await stored(await scenePng(41), { ownerId: 'sim' }), await stored(await scenePng(42), { ownerId: 'sim' })];
    bobs = await stored(t.jpegQ70, { ownerId: 'sim-bob' });
    noOwner = [await stored(png), await stored(t.half)];
  });

  it('finds the same picture recompressed, halved and EXIF-rotated, nearest first, not itself, not other owners', async () => {
    const res = await similar(original.id, '?maxDistance=10');
    expect(res.status).toBe(200);
    const ids = res.body.items.map((i: any) => i.id);
    expect(new Set(ids)).toEqual(new Set(twins.map((t) => t.id)));
    const distances = res.body.items.map((i: any) => i.distance);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    for (const item of res.body.items) {
      expect(item.distance).toBe(hammingDistance(original.phash, item.phash));
      expect(item.distance).toBeLessThanOrEqual(8);
      expect(item).toMatchObject({ status: 'ready', ownerId: 'sim' });
    }
    expect(ids).not.toContain(bobs.id);
    for (const o of others) expect(ids).not.toContain(o.id);
  });

  it('limit keeps the nearest; maxDistance=32 reaches the different pictures, still the owner only', async () => {
    const all = (await similar(original.id, '?maxDistance=10')).body.items;
    const one = await similar(original.id, '?maxDistance=10&limit=1');
    expect(one.body.items.map((i: any) => i.id)).toEqual([all[0].id]);
    const wide = (await similar(original.id, '?maxDistance=32&limit=100')).body.items;
    for (const item of wide) expect(item.ownerId).toBe('sim');
    expect(wide.length).toBeGreaterThanOrEqual(3);
  });

  it('the client answers the same through similarAssets', async () => {
    const client = new RehostClient({ baseUrl: stack.baseUrl, token: stack.token });
    const items = await client.similarAssets(original.id, { maxDistance: 10, limit: 2 });
    expect(items.map((i) => i.id)).toEqual((await similar(original.id, '?maxDistance=10&limit=2')).body.items.map((i: any) => i.id));
    expect(items[0]!.distance).toBe(hammingDistance(original.phash, items[0]!.phash!));
  });

  it('assets without an owner match only each other', async () => {
    const res = await similar(noOwner[0].id, '?maxDistance=10');
    expect(res.body.items.map((i: any) => i.id)).toEqual([noOwner[1].id]);
    expect(res.body.items[0].ownerId).toBeNull();
  });

  it('a deleted asset is never returned', async () => {
    const gone = twins[2];
    expect((await stack.call(`/v1/assets/${gone.id}`, { method: 'DELETE' })).status).toBe(204);
    const ids = (await similar(original.id, '?maxDistance=32&limit=100')).body.items.map((i: any) => i.id);
    expect(ids).not.toContain(gone.id);
    expect(ids).toContain(twins[0].id);
    expect((await similar(gone.id)).status).toBe(404);
  });

  it('bad parameters are 400, unknown assets 404, an asset not analysed yet 409 not_analyzed', async () => {
    for (const q of ['?maxDistance=33', '?maxDistance=-1', '?maxDistance=abc', '?maxDistance=1.5', '?limit=0', '?limit=101', '?limit=x']) {
      const res = await similar(original.id, q);
      expect([q, res.status, res.body.error?.code]).toEqual([q, 400, 'bad_request']);
    }
    expect((await similar(original.id, '?maxDistance=0')).status).toBe(200);
    expect((await similar(randomUUID())).status).toBe(404);
    expect((await similar('not-a-uuid')).status).toBe(404);
    const pending = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 100 } });
    const res = await similar(pending.body.assetId);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('not_analyzed');
  });
});
