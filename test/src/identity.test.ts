/**
 * Every caller gets only its own (issue 17, items 1–5, 9, 10): dedupe shares bytes, never an
 * asset; idempotency keys are bound to their caller and body; every callback is called; the
 * last delete of a shared object removes it; /wait notices a delete.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, sha256, startBotApiDouble } from '@rehost/testing';
import { heldDownload, waitTerminal } from './helpers.js';
import { type Receiver, startReceiver } from './receiver.js';
import { type Stack, startStack } from './stack.js';

const OTHER_TOKEN = 'other-service-token';

let stack: Stack;
let bot: BotApiDouble;
let receiver: Receiver;

let n = 0;
const nextIds = (tag: string) => {
  n++;
  return { fileId: `id-${tag}-${n}`, fileUniqueId: `id-u-${tag}-${n}` };
};

beforeAll(async () => {
  bot = await startBotApiDouble();
  receiver = await startReceiver();
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      API_TOKENS: `test-token,${OTHER_TOKEN}`,
      WEBHOOK_SIGNING_SECRET: 'whsec_identity_0123456789',
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await bot?.close();
});

const rehost = (source: Record<string, unknown>, extra: Record<string, unknown> = {}, token?: string) =>
  stack.call('/v1/rehost', {
    method: 'POST',
    json: { source: { type: 'telegram', ...source }, ...extra },
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
const get = (id: string) => stack.call(`/v1/assets/${id}`);
const del = (id: string) => stack.call(`/v1/assets/${id}`, { method: 'DELETE' });

/** A file whose download is held after its first bytes until `release()`. */
function heldFile(tag: string) {
  const ids = nextIds(tag);
  const bytes = makePng(28, 29);
  return { ids, bytes, ...heldDownload(bot, ids, bytes) };
}

describe('dedupe shares bytes, never an asset', () => {
  it("Bob's request for Alice's file gets Bob's own asset; Bob's DELETE leaves Alice's image served", async () => {
    const ids = nextIds('shared');
    const bytes = makePng(40, 30);
    bot.addFile({ ...ids, bytes });
    const alice = await rehost(ids, { ownerId: 'alice', metadata: { album: 'alice' } });
    const aliceAsset = await waitTerminal(stack, alice.body.assetId);
    const downloads = bot.stats.downloadsByFileId.get(ids.fileId);

    const bob = await rehost(ids, { ownerId: 'bob', metadata: { album: 'bob' } });
    expect(bob.status).toBe(200);
    expect(bob.body.assetId).not.toBe(aliceAsset.id);
    expect(bob.body).toMatchObject({ status: 'ready', ownerId: 'bob', url: aliceAsset.url, sha256: sha256(bytes) });
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(downloads);

    expect((await del(bob.body.assetId)).status).toBe(204);
    expect((await get(aliceAsset.id)).body).toMatchObject({ status: 'ready', ownerId: 'alice' });
    const served = Buffer.from(await (await fetch(aliceAsset.url)).arrayBuffer());
    expect(sha256(served)).toBe(sha256(bytes));
  });

  it('every accepted callbackUrl is called: a request that joins a running download gets its own callback', async () => {
    const file = heldFile('joined');
    const first = await rehost(file.ids, { callbackUrl: `${receiver.url}/first` });
    await file.downloading;
    const second = await rehost(file.ids, { callbackUrl: `${receiver.url}/second` });
    expect(second.status).toBe(202);
    expect(second.body.assetId).not.toBe(first.body.assetId);
    file.release();
    const [a, b] = await Promise.all([waitTerminal(stack, first.body.assetId), waitTerminal(stack, second.body.assetId)]);
    expect(a.status).toBe('ready');
    expect(b).toMatchObject({ status: 'ready', url: a.url });
    expect(bot.stats.downloadsByFileId.get(file.ids.fileId)).toBe(1);
    const [hookA] = await receiver.requests(first.body.assetId, 1);
    const [hookB] = await receiver.requests(second.body.assetId, 1);
    expect(JSON.parse(hookA!.body)).toMatchObject({ id: first.body.assetId, status: 'ready' });
    expect(JSON.parse(hookB!.body)).toMatchObject({ id: second.body.assetId, status: 'ready' });
  });

  it('a request waiting for a slow download of the same file re-checks without using up attempts or calling getFile', async () => {
    const file = heldFile('follower');
    const first = await rehost(file.ids);
    await file.downloading;
    const getFiles = bot.stats.getFile;
    const second = await rehost(file.ids);
    const job = () => stack.apiCtx.queues.queues.rehost.getJob(`rehost-${second.body.assetId}`);
    // Bounded poll on the job's own record until it has re-checked a few times.
    const deadline = Date.now() + 15_000;
    while (((await job())?.data.waiting?.count ?? 0) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const waiting = await job();
    expect(waiting?.data.waiting?.count).toBeGreaterThanOrEqual(4);
    expect(waiting?.attemptsMade).toBe(0);
    expect(bot.stats.getFile - getFiles).toBe(1); // the follower's one getFile, none per re-check
    file.release();
    const [a, b] = await Promise.all([waitTerminal(stack, first.body.assetId), waitTerminal(stack, second.body.assetId)]);
    expect(b).toMatchObject({ status: 'ready', url: a.url });
    expect(bot.stats.downloadsByFileId.get(file.ids.fileId)).toBe(1);
  });

  it('a stored file answered at once still calls its callback', async () => {
    const ids = nextIds('at-once');
    bot.addFile({ ...ids, bytes: makePng(20, 20) });
    await waitTerminal(stack, (await rehost(ids)).body.assetId);
    const again = await rehost(ids, { callbackUrl: `${receiver.url}/again` });
    expect(again.status).toBe(200);
    const [hook] = await receiver.requests(again.body.assetId, 1);
    expect(JSON.parse(hook!.body)).toMatchObject({ id: again.body.assetId, status: 'ready' });
  });

  it('two sharers deleted at the same moment: both 204, and the object is gone after the last (8 rounds)', async () => {
    for (let round = 0; round < 8; round++) {
      const ids = nextIds('last-delete');
      bot.addFile({ ...ids, bytes: makePng(10 + round, 12) });
      const one = await waitTerminal(stack, (await rehost(ids)).body.assetId);
      const two = (await rehost(ids)).body;
      expect(two.url).toBe(one.url);
      const answers = await Promise.all([del(one.id), del(two.assetId)]);
      expect(answers.map((a) => a.status)).toEqual([204, 204]);
      expect(await stack.services.bucket.store.head(one.key)).toBeFalsy();
    }
  });
});

describe('idempotency keys are bound to the request', () => {
  it('ten concurrent requests, one key, ten bodies: exactly one asset, nine 409 idempotency_conflict', async () => {
    const files = Array.from({ length: 10 }, () => nextIds('idem10'));
    for (const f of files) bot.addFile({ ...f, bytes: makePng(15, 16) });
    const answers = await Promise.all(files.map((f) => rehost({ fileId: f.fileId }, { idempotencyKey: 'idem-ten' })));
    const accepted = answers.filter((a) => a.status === 202 || a.status === 200);
    const refused = answers.filter((a) => a.status === 409);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(9);
    for (const r of refused) expect(r.body.error.code).toBe('idempotency_conflict');
    // The winner's own body, retried, gets its asset; another body never does.
    const winner = files[answers.indexOf(accepted[0]!)]!;
    const retry = await rehost({ fileId: winner.fileId }, { idempotencyKey: 'idem-ten' });
    expect(retry.body.assetId).toBe(accepted[0]!.body.assetId);
    await waitTerminal(stack, accepted[0]!.body.assetId);
    const loser = files.find((f) => f !== winner)!;
    const late = await rehost({ fileId: loser.fileId }, { idempotencyKey: 'idem-ten' });
    expect(late.status).toBe(409);
  });

  it('is scoped to the API token: another service using the same key gets its own asset', async () => {
    const ids = nextIds('scoped');
    bot.addFile({ ...ids, bytes: makePng(17, 18) });
    const mine = await rehost(ids, { idempotencyKey: 'shared-key' });
    const theirs = await rehost(ids, { idempotencyKey: 'shared-key' }, OTHER_TOKEN);
    expect([200, 202]).toContain(theirs.status);
    expect(theirs.body.assetId).not.toBe(mine.body.assetId);
  });
});

describe('/wait and DELETE', () => {
  it('an asset deleted while a client waits on it answers 404 at once, not its stale state at the timeout', async () => {
    const file = heldFile('wait-delete');
    const res = await rehost(file.ids);
    await file.downloading;
    const started = Date.now();
    const waiting = stack.call(`/v1/assets/${res.body.assetId}/wait?timeoutMs=20000`);
    // The wait is registered before the API reads the asset; a DELETE after that must wake it.
    const deadline = Date.now() + 5000;
    while (stack.apiCtx.events.waiting === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(stack.apiCtx.events.waiting).toBeGreaterThan(0);
    expect((await del(res.body.assetId)).status).toBe(204);
    const answer = await waiting;
    expect(answer.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(10_000);
    file.release();
  });
});

describe('concurrent requests for a file that keeps failing', () => {
  it('never answer 500 (100 requests in waves of 25)', async () => {
    const statuses = new Map<number, number>();
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 25 }, () => rehost({ fileId: 'no-such-file', fileUniqueId: 'no-such-unique' })));
      for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
  });
});

describe('back-pressure admits only requests that would enqueue', () => {
  it('a retry or a stored file is answered past MAX_QUEUE_DEPTH, never 429, and takes no admission slot', async () => {
    const gated = await startStack({ env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl, MAX_QUEUE_DEPTH: '2' } });
    try {
      const call = (source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
        gated.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...source }, ...extra } });
      const stored = nextIds('bp-stored');
      bot.addFile({ ...stored, bytes: makePng(19, 19) });
      expect((await waitTerminal(gated, (await call(stored)).body.assetId)).status).toBe('ready');
      await gated.stopWorker(); // nothing drains the queue from here on
      const firstFile = nextIds('bp-first');
      bot.addFile({ ...firstFile, bytes: makePng(21, 22) });
      const first = await call(firstFile, { idempotencyKey: 'bp-retry' });
      expect(first.status).toBe(202);
      // New files until the gate refuses one (bounded: the limit is 2).
      let refused = 0;
      for (let i = 0; i < 10 && refused === 0; i++) {
        const f = nextIds('bp-fill');
        bot.addFile({ ...f, bytes: makePng(23, 24) });
        const answer = await call(f);
        if (answer.status === 429) refused++;
        else expect(answer.status).toBe(202);
      }
      expect(refused).toBe(1);
      // At the limit: the stored file and the retry are still answered, again and again.
      for (let i = 0; i < 3; i++) {
        expect((await call(stored)).status).toBe(200);
        const retry = await call(firstFile, { idempotencyKey: 'bp-retry' });
        expect(retry.status).toBe(202);
        expect(retry.body.assetId).toBe(first.body.assetId);
      }
    } finally {
      await gated.close();
    }
  });
});
