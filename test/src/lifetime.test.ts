/**
 * Promises that span an asset's lifetime (issue 11): each race is decided by a test hook (the
 * Bot API double's `beforeGetFile`, a body the test releases, an origin that holds its answer),
 * never by a sleep.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventStreamKey, jobIdFor } from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, sha256, startBotApiDouble } from '@rehost/testing';
import { processors } from '@rehost/worker/processors';
import { finishedJob, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
/** getFile for these file ids waits until the test opens the gate. */
const getFileGates = new Map<string, { reached: () => void; open: Promise<void> }>();

/** A promise the test resolves by hand, and one that tells when the other side got there. */
function gate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const arrived = new Promise<void>((r) => (reached = r));
  return { open, opened, reached, arrived };
}

let n = 0;
const nextIds = (tag: string) => {
  n++;
  return { fileId: `life-${tag}-${n}`, fileUniqueId: `life-u-${tag}-${n}` };
};

beforeAll(async () => {
  bot = await startBotApiDouble({
    beforeGetFile: async (fileId) => {
      const g = getFileGates.get(fileId);
      if (!g) return;
      g.reached();
      await g.open;
    },
  });
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      WORKER_CONCURRENCY: '4',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
});

const rehost = (source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...source }, ...extra } });
const del = (id: string) => stack.call(`/v1/assets/${id}`, { method: 'DELETE' });
const publicKeys = () => stack.services.bucket.store.listKeys('i/');

/** Resolves once the asset's rehost job has finished (completed or failed), bounded. */
async function jobFinished(assetId: string, timeoutMs = 20_000): Promise<void> {
  await finishedJob(stack.apiCtx.queues.queues.rehost, jobIdFor('rehost', assetId), timeoutMs);
}

describe('invariant 1: a ready URL serves exactly the bytes the asset reports', () => {
  it('a stalled run of a url source whose bytes changed meanwhile cannot overwrite what the winning run published', async () => {
    const first = makePng(40, 40);
    const second = makePng(41, 41);
    let requests = 0;
    // The source answers other bytes on every request; the first answer is held until the test says.
    const stalled = gate();
    const origin2Body = [first, second];
    const origin2 = http.createServer(async (_req, res) => {
      const i = requests++;
      if (i === 0) {
        stalled.reached();
        await stalled.opened;
      }
      const body = origin2Body[Math.min(i, 1)]!;
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => origin2.listen(0, '127.0.0.1', r));
    const url2 = `http://127.0.0.1:${(origin2.address() as AddressInfo).port}/photo.png`;
    // The job is run by hand twice with the real worker context, as BullMQ does when a run stalls
    // past its lock: the queued copy is removed first so only these two runs touch the asset.
    await stack.stopWorker();
    const created = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: url2 } } });
    const assetId = created.body.assetId as string;
    await (await stack.apiCtx.queues.queues.rehost.getJob(jobIdFor('rehost', assetId)))?.remove();
    stack.startWorker();
    const ctx = stack.workerCtx!;
    const log = createLogger({ name: 'test', level: 'silent' });
    const run = (id: string) => ({
      id,
      data: { assetId, source: { type: 'url' as const, url: url2 } },
      attemptsMade: 0,
      log,
      signal: new AbortController().signal,
      reportStored: () => {},
    });
    try {
      const runA = processors.rehost(run('a'), ctx);
      await stalled.arrived; // run A is frozen inside its download of the first bytes
      const resultB = await processors.rehost(run('b'), ctx); // the retaken run stores the second bytes
      expect(resultB).toMatchObject({ status: 'ready' });
      stalled.open(); // run A wakes up and finishes its upload of the other bytes
      const resultA = await runA;
      expect(resultA).toEqual(resultB); // it reports the winner's state, URL included

      const asset = (await stack.call(`/v1/assets/${assetId}`)).body;
      expect(asset).toMatchObject({ status: 'ready', sha256: sha256(second), size: second.length });
      const served = Buffer.from(await (await fetch(asset.url)).arrayBuffer());
      expect(sha256(served)).toBe(asset.sha256);
      // The losing run deleted its own object: nothing else of this asset is under i/.
      const keys = await publicKeys();
      expect(keys.filter((k) => k !== asset.key && k.startsWith(asset.key.slice(0, 22)))).toEqual([]);
    } finally {
      stalled.open();
      await new Promise<void>((r) => origin2.close(() => r()));
    }
  });
});

describe('invariant 2: a deleted asset never comes back', () => {
  it('an idempotent retry after DELETE answers 410 asset_deleted, never a 200 with a dead URL', async () => {
    const ids = nextIds('idem');
    bot.addFile({ ...ids, bytes: makePng(20, 21) });
    const first = await rehost(ids, { idempotencyKey: `k-${ids.fileId}` });
    expect((await waitTerminal(stack, first.body.assetId)).status).toBe('ready');
    expect((await del(first.body.assetId)).status).toBe(204);
    const retry = await rehost(ids, { idempotencyKey: `k-${ids.fileId}` });
    expect(retry.status).toBe(410);
    expect(retry.body.error.code).toBe('asset_deleted');
  });

  it('after its only holder is deleted, the same file is downloaded and stored anew (no dead URL)', async () => {
    const ids = nextIds('redo');
    const bytes = makePng(22, 23);
    bot.addFile({ ...ids, bytes });
    const first = await waitTerminal(stack, (await rehost(ids)).body.assetId);
    expect((await del(first.id)).status).toBe(204);
    expect((await fetch(first.url)).status).not.toBe(200);
    const again = await rehost(ids);
    expect(again.status).toBe(202);
    const second = await waitTerminal(stack, again.body.assetId);
    expect(second).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
    expect(second.url).not.toBe(first.url);
    expect((await fetch(second.url)).status).toBe(200);
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(2);
  });
});

describe('invariant 3: a delete releases everything it held, whenever it lands', () => {
  it('DELETE while the job is inside getFile: a later request for the same file is stored normally', async () => {
    const ids = nextIds('getfile');
    const bytes = makePng(24, 25);
    bot.addFile({ ...ids, bytes });
    const g = gate();
    getFileGates.set(ids.fileId, { reached: g.reached, open: g.opened });
    const first = await rehost({ fileId: ids.fileId });
    await g.arrived; // the worker is inside getFile
    expect((await del(first.body.assetId)).status).toBe(204);
    getFileGates.delete(ids.fileId);
    g.open();
    await jobFinished(first.body.assetId);
    const later = await rehost({ fileId: ids.fileId });
    expect(later.status).toBe(202);
    expect(await waitTerminal(stack, later.body.assetId)).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
  });

  it('DELETE mid-download: the run deletes what it uploaded, a later request is stored normally', async () => {
    const ids = nextIds('midload');
    const bytes = makePng(26, 27);
    const body = new PassThrough();
    let served = 0;
    const started = gate();
    bot.addFile({
      ...ids,
      size: bytes.length,
      body: () => {
        served++;
        if (served > 1) return Readable.from([bytes]);
        body.write(bytes.subarray(0, 100));
        started.reached();
        return body;
      },
    });
    const before = new Set(await publicKeys());
    const first = await rehost({ fileId: ids.fileId });
    await started.arrived; // the first 100 bytes are on their way into the store
    expect((await del(first.body.assetId)).status).toBe(204);
    body.end(bytes.subarray(100));
    await jobFinished(first.body.assetId);
    expect((await publicKeys()).filter((k) => !before.has(k))).toEqual([]);
    const later = await waitTerminal(stack, (await rehost({ fileId: ids.fileId })).body.assetId);
    expect(later).toMatchObject({ status: 'ready', sha256: sha256(bytes) });
  });
});

describe('invariant 5: no caller-supplied identity hands one caller another file', () => {
  it('a fileUniqueId that getFile contradicts fails the asset (telegram_file_mismatch) and poisons nothing', async () => {
    const alice = nextIds('alice');
    const aliceBytes = makePng(30, 31);
    bot.addFile({ ...alice, bytes: aliceBytes });
    const aliceAsset = await waitTerminal(stack, (await rehost(alice)).body.assetId);
    expect(aliceAsset.status).toBe('ready');

    // Mallory names Alice's unique id for a file of her own: she gets neither Alice's bytes nor a claim.
    const mallory = nextIds('mallory');
    const malloryBytes = makePng(32, 33);
    bot.addFile({ ...mallory, bytes: malloryBytes });
    const lie = await rehost({ fileId: mallory.fileId, fileUniqueId: alice.fileUniqueId });
    expect(lie.status).toBe(202);
    expect(await waitTerminal(stack, lie.body.assetId)).toMatchObject({ status: 'failed', error: { code: 'telegram_file_mismatch' } });

    // And the other way: Mallory's honest id, claimed for Alice's file id, gets Alice's own bytes only.
    const honest = await waitTerminal(stack, (await rehost({ fileId: mallory.fileId })).body.assetId);
    expect(honest).toMatchObject({ status: 'ready', sha256: sha256(malloryBytes) });
    const aliceAgain = await rehost(alice);
    expect(aliceAgain.status).toBe(200);
    expect(aliceAgain.body.sha256).toBe(sha256(aliceBytes));
  });
});

describe('invariant 7: events tell the truth', () => {
  it('a job that finds its asset already ready reports its url', async () => {
    const ids = nextIds('again');
    bot.addFile({ ...ids, bytes: makePng(34, 35) });
    const ready = await waitTerminal(stack, (await rehost(ids)).body.assetId);
    const result = await processors.rehost(
      {
        id: 'again',
        data: { assetId: ready.id, source: { type: 'telegram', fileId: ids.fileId, bot: 'default' } },
        attemptsMade: 0,
        log: createLogger({ name: 'test', level: 'silent' }),
        signal: new AbortController().signal,
        reportStored: () => {},
      },
      stack.workerCtx!,
    );
    expect(result).toEqual({ assetId: ready.id, status: 'ready', url: ready.url });
  });

  it('a malformed entry in the event stream does not stop the API event reader', async () => {
    const redis = stack.services.redis.redis;
    const key = eventStreamKey(stack.services.env.QUEUE_PREFIX!);
    await redis.xadd(key, '*', 'event', '{not json');
    await redis.xadd(key, '*', 'something', 'else');
    const ids = nextIds('after-garbage');
    bot.addFile({ ...ids, bytes: makePng(36, 37) });
    const res = await rehost(ids);
    const waited = await stack.call(`/v1/assets/${res.body.assetId}/wait?timeoutMs=15000`);
    expect(waited.body.status).toBe('ready');
  });
});
