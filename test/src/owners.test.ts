/**
 * Owners (issue 15): listings with keyset pages, exact usage, quotas under concurrency, erasure.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RehostClient } from '@rehost/client';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, sha256, startBotApiDouble } from '@rehost/testing';
import { processors } from '@rehost/worker/processors';
import { heldDownload, putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
let n = 0;
const nextIds = (tag: string) => {
  n++;
  return { fileId: `own-${tag}-${n}`, fileUniqueId: `own-u-${tag}-${n}` };
};

beforeAll(async () => {
  bot = await startBotApiDouble();
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl } });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
});

const upload = (ownerId: string, size = 100) => stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size, ownerId } });
const rehost = (s: Stack, source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  s.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...source }, ...extra } });
const list = (query: string) => stack.call(`/v1/assets?${query}`);

/** The owner's usage recounted from the rows (what the counter must always equal). */
async function recount(s: Stack, ownerId: string) {
  const { rows } = await s.services.db.query(
    `SELECT count(*)::int AS assets,
       COALESCE(sum(CASE WHEN status = 'ready' THEN size ELSE 0 END), 0)::bigint AS bytes,
       COALESCE(sum(CASE WHEN status <> 'ready' THEN COALESCE("declaredSize", 0) ELSE 0 END), 0)::bigint AS pending
     FROM "Asset" WHERE "ownerId" = $1 AND "deletedAt" IS NULL AND status NOT IN ('failed', 'expired')`,
    [ownerId],
  );
  return { ownerId, assets: rows[0]!.assets, bytes: Number(rows[0]!.bytes), pending: Number(rows[0]!.pending) };
}

describe('listing', () => {
  it('walks 250 assets page by page while others are inserted and deleted: each live one seen exactly once, newest first', async () => {
    const owner = `lister-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 250; i += 25) {
      const batch = await Promise.all(Array.from({ length: 25 }, () => upload(owner)));
      ids.push(...batch.map((r) => r.body.assetId as string));
    }
    const doomed = new Set(ids.filter((_, i) => i % 10 === 3)); // deleted during the walk
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const added: string[] = [];
    do {
      const res = await list(`ownerId=${owner}&limit=30${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((a: { id: string }) => a.id));
      cursor = res.body.nextCursor;
      // Between pages: a new upload, and a few deletions of assets not yet listed.
      added.push((await upload(owner)).body.assetId);
      if (pages === 1) for (const id of doomed) await stack.call(`/v1/assets/${id}`, { method: 'DELETE' });
      pages++;
    } while (cursor && pages < 50);
    const counts = new Map<string, number>();
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    // Every asset that stayed live throughout was seen; none created during the walk was repeated.
    for (const id of ids) if (!doomed.has(id)) expect(counts.get(id)).toBe(1);
    const full = await list(`ownerId=${owner}&limit=200`);
    const times = full.body.items.map((a: { createdAt: string }) => a.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
    for (const item of full.body.items) expect(doomed.has(item.id)).toBe(false);
  });

  it('filters by status and source type; bad limits, malformed and foreign cursors are 400s', async () => {
    const owner = `filters-${Date.now()}`;
    await upload(owner);
    const ids = nextIds('list');
    bot.addFile({ ...ids, bytes: makePng(12, 12) });
    const ready = await waitTerminal(stack, (await rehost(stack, ids, { ownerId: owner })).body.assetId);
    const onlyReady = await list(`ownerId=${owner}&status=ready`);
    expect(onlyReady.body.items.map((a: { id: string }) => a.id)).toEqual([ready.id]);
    const uploads = await list(`ownerId=${owner}&sourceType=upload`);
    expect(uploads.body.items).toHaveLength(1);
    expect(uploads.body.items[0].source.type).toBe('upload');
    expect((await list(`ownerId=${owner}&limit=0`)).status).toBe(400);
    expect((await list(`ownerId=${owner}&limit=201`)).status).toBe(400);
    expect((await list(`ownerId=${owner}&limit=`)).status).toBe(200);
    const page = await list(`ownerId=${owner}&limit=1`);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const foreign = await list(`ownerId=someone-else&limit=1&cursor=${page.body.nextCursor}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.code).toBe('bad_request');
    expect((await list(`ownerId=${owner}&cursor=not-a-cursor`)).status).toBe(400);
  });

  it('the client walks every page as an async iterator', async () => {
    const owner = `client-${Date.now()}`;
    for (let i = 0; i < 7; i++) await upload(owner);
    const client = new RehostClient({ baseUrl: stack.baseUrl, token: stack.token });
    const all = [];
    for await (const a of client.listAssets({ ownerId: owner, limit: 3 })) all.push(a);
    expect(all).toHaveLength(7);
    expect(await client.getUsage(owner)).toEqual(await recount(stack, owner));
  });
});

describe('usage', () => {
  it('is exact through uploads, rehosts, shares, failures and deletes', async () => {
    const owner = `usage-${Date.now()}`;
    const png = makePng(30, 20);
    const up = (await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length, ownerId: owner } })).body;
    expect((await stack.call(`/v1/owners/${owner}/usage`)).body).toEqual({ ownerId: owner, assets: 1, bytes: 0, pending: png.length });
    await putUpload(up.upload, png);
    await stack.call(`/v1/uploads/${up.assetId}/complete`, { method: 'POST' });
    await waitTerminal(stack, up.assetId);
    const ids = nextIds('usage');
    const tg = makePng(31, 21);
    bot.addFile({ ...ids, bytes: tg });
    await waitTerminal(stack, (await rehost(stack, ids, { ownerId: owner })).body.assetId);
    const again = await rehost(stack, ids, { ownerId: owner }); // a share counts for its owner too
    const failed = await rehost(stack, { fileId: 'no-such-file' }, { ownerId: owner });
    await waitTerminal(stack, failed.body.assetId);
    expect((await stack.call(`/v1/owners/${owner}/usage`)).body).toEqual({ ownerId: owner, assets: 3, bytes: png.length + 2 * tg.length, pending: 0 });
    await stack.call(`/v1/assets/${again.body.assetId}`, { method: 'DELETE' });
    const usage = (await stack.call(`/v1/owners/${owner}/usage`)).body;
    expect(usage).toEqual({ ownerId: owner, assets: 2, bytes: png.length + tg.length, pending: 0 });
    expect(usage).toEqual(await recount(stack, owner));
    expect((await stack.call('/v1/owners/nobody-at-all/usage')).body).toEqual({ ownerId: 'nobody-at-all', assets: 0, bytes: 0, pending: 0 });
  });
});

describe('quotas', () => {
  let limited: Stack;
  beforeAll(async () => {
    limited = await startStack({
      env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl, OWNER_MAX_ASSETS: '3', OWNER_MAX_BYTES: '2000' },
    });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('20 concurrent requests for the last free slot: exactly one accepted, the others 403 quota_exceeded', async () => {
    const owner = `slot-${Date.now()}`;
    for (let i = 0; i < 2; i++) expect((await limited.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10, ownerId: owner } })).status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => limited.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10, ownerId: owner } })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const refused = answers.filter((a) => a.status === 403);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.body.error.code).toBe('quota_exceeded');
    // A delete gives the room back; requests without an owner are not subject to owner quotas.
    await limited.call(`/v1/assets/${answers.find((a) => a.status === 201)!.body.assetId}`, { method: 'DELETE' });
    expect((await limited.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10, ownerId: owner } })).status).toBe(201);
    expect((await limited.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10 } })).status).toBe(201);
  });

  it('a rehost whose stored size would cross the byte quota ends failed quota_exceeded and stores nothing', async () => {
    const owner = `bytes-${Date.now()}`;
    const big = makePng(200, 200); // compressed, still well over 2000 bytes with the pattern below
    expect(big.length).toBeGreaterThan(2000);
    const ids = nextIds('big');
    bot.addFile({ ...ids, bytes: big });
    const before = new Set(await limited.services.bucket.store.listKeys('i/'));
    const res = await rehost(limited, ids, { ownerId: owner });
    expect(res.status).toBe(202);
    expect(await waitTerminal(limited, res.body.assetId)).toMatchObject({ status: 'failed', error: { code: 'quota_exceeded' } });
    expect((await limited.services.bucket.store.listKeys('i/')).filter((k) => !before.has(k))).toEqual([]);
    expect((await limited.call(`/v1/owners/${owner}/usage`)).body).toEqual({ ownerId: owner, assets: 0, bytes: 0, pending: 0 });
    // Declared uploads over the byte quota are refused at once.
    const tooBig = await limited.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 2001, ownerId: owner } });
    expect(tooBig.status).toBe(403);
  });
});

describe('erasure', () => {
  it("erases an owner's assets (shared objects of others stay), jobs in flight end deleted, usage ends at zero", async () => {
    const owner = `erase-${Date.now()}`;
    const other = `keep-${Date.now()}`;
    // Ready assets, one of them sharing its object with another owner, uploads pending, a job held mid-download.
    const shared = nextIds('erase-shared');
    const sharedBytes = makePng(33, 34);
    bot.addFile({ ...shared, bytes: sharedBytes });
    const mine = await waitTerminal(stack, (await rehost(stack, shared, { ownerId: owner })).body.assetId);
    const theirs = (await rehost(stack, shared, { ownerId: other })).body;
    expect(theirs.url).toBe(mine.url);
    const own = nextIds('erase-own');
    bot.addFile({ ...own, bytes: makePng(35, 36) });
    const ownAsset = await waitTerminal(stack, (await rehost(stack, own, { ownerId: owner })).body.assetId);
    for (let i = 0; i < 5; i++) await upload(owner);
    const held = nextIds('erase-held');
    const heldBytes = makePng(37, 38);
    const { downloading, release } = heldDownload(bot, held, heldBytes);
    const inFlight = (await rehost(stack, held, { ownerId: owner })).body.assetId as string;
    await downloading;

    const erase = await stack.call(`/v1/owners/${owner}/assets`, { method: 'DELETE' });
    expect(erase.status).toBe(202);
    expect(erase.body.status).toBe('running');
    const again = await stack.call(`/v1/owners/${owner}/assets`, { method: 'DELETE' });
    expect([erase.body.erasureId]).toContain(again.body.erasureId);
    release();

    const client = new RehostClient({ baseUrl: stack.baseUrl, token: stack.token });
    const done = await client.eraseOwner(owner, { wait: true, pollMs: 100, timeoutMs: 30_000 });
    expect(done).toMatchObject({ status: 'done', total: 8, deleted: 8 });
    expect((await list(`ownerId=${owner}`)).body.items).toEqual([]);
    expect((await stack.call(`/v1/assets/${inFlight}`)).status).toBe(404);
    expect((await stack.call(`/v1/assets/${ownAsset.id}`)).status).toBe(404);
    expect((await fetch(ownAsset.url)).status).not.toBe(200);
    // The other owner's share of the same object is still served.
    expect((await stack.call(`/v1/assets/${theirs.assetId}`)).body.status).toBe('ready');
    expect(sha256(Buffer.from(await (await fetch(theirs.url)).arrayBuffer()))).toBe(sha256(sharedBytes));
    expect((await stack.call(`/v1/owners/${owner}/usage`)).body).toEqual({ ownerId: owner, assets: 0, bytes: 0, pending: 0 });
    // The record keeps counts only.
    const { rows } = await stack.services.db.query(`SELECT "ownerId" FROM "Erasure" WHERE id = $1`, [erase.body.erasureId]);
    expect(rows[0]!.ownerId).toBeNull();
  });

  it('is resumable: a run cut short after some deletions is finished by the next run, counts exact', async () => {
    const owner = `resume-${Date.now()}`;
    for (let i = 0; i < 6; i++) await upload(owner);
    await stack.stopWorker(); // the erasure job waits in the queue; this test runs it by hand
    const erase = await stack.call(`/v1/owners/${owner}/assets`, { method: 'DELETE' });
    stack.startWorker();
    await stack.workers!.workers.find((w) => w.name === 'erasure')!.pause(true);
    const ctx = stack.workerCtx!;
    let deletes = 0;
    const crashing = {
      ...ctx,
      assets: new Proxy(ctx.assets, {
        get(target, prop, receiver) {
          if (prop !== 'softDelete') return Reflect.get(target, prop, receiver);
          return async (id: string) => {
            if (++deletes > 3) throw new Error('worker killed');
            return target.softDelete(id);
          };
        },
      }),
    };
    const run = { id: 'by-hand', data: { erasureId: erase.body.erasureId }, attemptsMade: 0, log: createLogger({ name: 't', level: 'silent' }), signal: new AbortController().signal, reportStored: () => {} };
    await expect(processors.erasure(run, crashing)).rejects.toThrow('worker killed');
    const partial = (await stack.call(`/v1/erasures/${erase.body.erasureId}`)).body;
    expect(partial).toMatchObject({ status: 'running', total: 6 });
    expect((await list(`ownerId=${owner}`)).body.items).toHaveLength(3);
    expect(await processors.erasure(run, ctx)).toMatchObject({ status: 'done' });
    expect((await stack.call(`/v1/erasures/${erase.body.erasureId}`)).body).toMatchObject({ status: 'done', total: 6, deleted: 6 });
    stack.workers!.workers.find((w) => w.name === 'erasure')!.resume();
  });
});
