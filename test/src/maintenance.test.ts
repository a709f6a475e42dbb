/**
 * The maintenance sweeper against real PostgreSQL, Redis and S3: each task is run directly
 * through its processor (or enqueued once) and its effects are checked — on the asset rows,
 * the bucket, the queues and the completion-event stream.
 */
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AssetsRepo } from '@rehost/db';
import {
  type AssetEvent,
  assetEvent,
  eventStreamKey,
  jobIdFor,
  type MaintenanceTask,
  MAINTENANCE_TASKS,
  maintenanceSchedulerId,
  runMaintenanceAndWait,
  runMaintenanceNow,
  scheduleMaintenance,
} from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, sha256, startBotApiDouble } from '@rehost/testing';
import type { WorkerContext } from '@rehost/worker/context';
import { processors } from '@rehost/worker/processors';
import { finishedJob, putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
let repo: AssetsRepo;
const log = createLogger({ name: 'maintenance-test', level: 'silent' });

beforeAll(async () => {
  bot = await startBotApiDouble();
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl } });
  repo = new AssetsRepo(stack.workerCtx!.sql);
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
});

const ctx = (): WorkerContext => stack.workerCtx!;
/** The worker's context with some settings changed (ages that the test cannot wait out). */
const withConfig = (overrides: Partial<WorkerContext['config']>): WorkerContext => ({ ...ctx(), config: { ...ctx().config, ...overrides } });

const sweep = (task: MaintenanceTask, context: WorkerContext = ctx()) =>
  processors.maintenance({ id: `test-${task}`, data: { task }, attemptsMade: 0, log, signal: new AbortController().signal, reportStored: () => {} }, context);

const sql = (text: string, params: unknown[] = []) =>
  stack.services.db.query(text.replaceAll('"Asset"', `"${stack.services.db.schema}"."Asset"`), params);

async function statusOf(id: string): Promise<string> {
  const { rows } = await sql('SELECT status FROM "Asset" WHERE id = $1', [id]);
  return rows[0]!.status as string;
}

/** Every completion event published so far for `assetId`. */
async function eventsFor(assetId: string): Promise<AssetEvent[]> {
  const entries = (await stack.services.redis.redis.xrange(eventStreamKey(stack.services.redis.prefix), '-', '+')) as [string, string[]][];
  return entries
    .map(([, fields]) => assetEvent.parse(JSON.parse(fields[fields.indexOf('event') + 1]!)))
    .filter((e) => e.assetId === assetId);
}

async function createUpload(bytes: Buffer) {
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bytes.length } });
  expect(res.status).toBe(201);
  return res.body as { assetId: string; upload: { url: string; headers: Record<string, string> } };
}

describe('expire-uploads', () => {
  it('expires an upload whose URL expired longer ago than the grace, deletes its staging object and announces it', async () => {
    const png = makePng(8, 8);
    const old = await createUpload(png);
    expect(await putUpload(old.upload, png)).toBe(200); // PUT but never completed
    const fresh = await createUpload(png);
    // Expired 2 h ago, beyond the 1 h default grace; `fresh` expired 10 min ago, within it.
    await sql(`UPDATE "Asset" SET "uploadExpiresAt" = now() - interval '2 hours' WHERE id = $1`, [old.assetId]);
    await sql(`UPDATE "Asset" SET "uploadExpiresAt" = now() - interval '10 minutes' WHERE id = $1`, [fresh.assetId]);
    const store = stack.services.bucket.store;
    expect(await store.head(`staging/${old.assetId}`)).toBeDefined();

    const result = await sweep('expire-uploads');
    expect(result.counts).toMatchObject({ expired: 1, stagingDeleted: 1, deleteErrors: 0 });
    expect(result.samples?.expired).toEqual([old.assetId]);

    expect(await statusOf(old.assetId)).toBe('expired');
    expect(await statusOf(fresh.assetId)).toBe('pending_upload');
    expect(await store.head(`staging/${old.assetId}`)).toBeUndefined();
    expect(await eventsFor(old.assetId)).toEqual([{ assetId: old.assetId, status: 'expired', error: expect.objectContaining({ code: 'upload_expired' }) }]);
    // The client that completes now is told the upload expired.
    const late = await stack.call(`/v1/uploads/${old.assetId}/complete`, { method: 'POST' });
    expect(late.status).toBe(410);
    expect(late.body.error.code).toBe('upload_expired');

    // A second run finds nothing more to do.
    expect((await sweep('expire-uploads')).counts).toMatchObject({ expired: 0, stagingDeleted: 0 });
  });

  it('leaves an upload alone that was completed before the sweep got to it', async () => {
    const png = makePng(9, 9);
    const up = await createUpload(png);
    expect(await putUpload(up.upload, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${up.assetId}/complete`, { method: 'POST' })).status).toBe(202);
    await sql(`UPDATE "Asset" SET "uploadExpiresAt" = now() - interval '2 hours' WHERE id = $1`, [up.assetId]);
    await sweep('expire-uploads');
    const asset = await waitTerminal(stack, up.assetId);
    expect(asset).toMatchObject({ status: 'ready', sha256: sha256(png) });
  });

  it('runs as a job too: enqueued once, the asset turns expired and waiters hear of it', async () => {
    const up = await createUpload(makePng(4, 4));
    await sql(`UPDATE "Asset" SET "uploadExpiresAt" = now() - interval '3 hours' WHERE id = $1`, [up.assetId]);
    const queues = stack.apiCtx.queues;
    await runMaintenanceNow(queues.queues.maintenance, 'expire-uploads');
    const asset = await waitTerminal(stack, up.assetId);
    expect(asset.status).toBe('expired');
  });

  it('runs now and answers with the counts when asked to wait (bounded)', async () => {
    const up = await createUpload(makePng(4, 4));
    await sql(`UPDATE "Asset" SET "uploadExpiresAt" = now() - interval '3 hours' WHERE id = $1`, [up.assetId]);
    const result = await runMaintenanceAndWait(stack.apiCtx.queues.queues.maintenance, stack.apiCtx.redis, 'expire-uploads', 15_000);
    expect(result).toMatchObject({ task: 'expire-uploads', counts: { expired: 1 } });
    expect((await waitTerminal(stack, up.assetId)).status).toBe('expired');
  });
});

describe('abort-multipart', () => {
  it('aborts unfinished multipart uploads older than the bound and keeps younger ones', async () => {
    const store = stack.services.bucket.store;
    const key = 'i/00000000-0000-4000-8000-00000000abcd.png';
    await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: key, ContentType: 'image/png' }));
    expect((await store.listMultipartUploads('')).map((u) => u.key)).toEqual([key]);

    // Default bound (a day): the upload is young, it stays.
    expect((await sweep('abort-multipart')).counts).toMatchObject({ open: 1, aborted: 0 });
    expect(await store.listMultipartUploads('')).toHaveLength(1);

    // A bound of zero seconds makes it old enough.
    const result = await sweep('abort-multipart', withConfig({ MULTIPART_MAX_AGE_SECONDS: 0 }));
    expect(result.counts).toMatchObject({ open: 1, aborted: 1, abortErrors: 0 });
    expect(await store.listMultipartUploads('')).toEqual([]);
  });
});

describe('requeue-stuck', () => {
  let n = 0;
  const file = () => {
    n++;
    const ids = { fileId: `maint-file-${n}`, fileUniqueId: `maint-uniq-${n}` };
    const bytes = makePng(10 + n, 10);
    bot.addFile({ ...ids, bytes });
    return { ...ids, bytes };
  };
  /** An asset row as the API writes it, but whose job was never enqueued (the API died in between). */
  async function orphanedRehost(f: { fileId: string }): Promise<string> {
    const { asset } = await repo.createRehost({ id: crypto.randomUUID(), sourceType: 'telegram', telegramFileId: f.fileId, telegramBot: 'default' });
    return asset.id;
  }
  const backdate = (id: string, minutes = 30) => sql(`UPDATE "Asset" SET "updatedAt" = now() - interval '${minutes} minutes' WHERE id = $1`, [id]);

  it('enqueues an asset whose job is missing again; it then completes', async () => {
    const f = file();
    const id = await orphanedRehost(f);
    await backdate(id);
    const young = await orphanedRehost(file()); // stuck for less than STUCK_AFTER_SECONDS: not touched
    const result = await sweep('requeue-stuck');
    expect(result.counts).toMatchObject({ stuck: 1, requeued: 1, failed: 0 });
    expect(result.samples?.requeued).toEqual([id]);
    expect(await waitTerminal(stack, id)).toMatchObject({ status: 'ready', sha256: sha256(f.bytes) });
    expect(await statusOf(young)).toBe('queued');
    expect(await stack.apiCtx.queues.queues.rehost.getJob(jobIdFor('rehost', young))).toBeUndefined();
  });

  it('replaces a finished job that left its asset behind (same job id, so the old one must go first)', async () => {
    const f = file();
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: f.fileId } } });
    const id = res.body.assetId as string;
    const firstRun = await waitTerminal(stack, id);
    expect(firstRun.status).toBe('ready');
    const queue = stack.apiCtx.queues.queues.rehost;
    const before = await finishedJob(queue, jobIdFor('rehost', id));
    expect(await before.getState()).toBe('completed');
    // The asset fell back to processing (as when its update was lost after the job's last attempt).
    await sql(`UPDATE "Asset" SET status = 'processing', key = NULL WHERE id = $1`, [id]);
    await backdate(id);

    expect((await sweep('requeue-stuck')).counts).toMatchObject({ requeued: 1 });
    const asset = await waitTerminal(stack, id);
    expect(asset).toMatchObject({ status: 'ready', sha256: sha256(f.bytes) });
    expect(bot.stats.downloadsByFileId.get(f.fileId)).toBe(2);
    // Keys are per run: the lost run's object is left alone (a stalled run might still record
    // it) for the orphan report; this test removes it so the report below sees only its own.
    expect(asset.key).not.toBe(firstRun.key);
    await stack.services.bucket.store.delete(firstRun.key!);
  });

  it('leaves an asset alone whose job is still pending (a delayed retry)', async () => {
    const f = file();
    const id = await orphanedRehost(f);
    await stack.apiCtx.queues.enqueue('rehost', { assetId: id, source: { type: 'telegram', fileId: f.fileId, bot: 'default' } }, { delay: 3_600_000 });
    await backdate(id);
    const result = await sweep('requeue-stuck');
    expect(result.counts).toMatchObject({ stuck: 1, alive: 1, requeued: 0 });
    const job = await stack.apiCtx.queues.queues.rehost.getJob(jobIdFor('rehost', id));
    expect(await job!.getState()).toBe('delayed');
    await job!.remove();
    await repo.markFailed(id, 'internal', 'test clean-up');
  });

  it('fails an asset whose job went missing too often, and announces it', async () => {
    const id = await orphanedRehost(file());
    await backdate(id);
    await stack.services.redis.redis.set(`${stack.services.redis.prefix}:maintenance:requeues:${id}`, '3');
    const result = await sweep('requeue-stuck');
    expect(result.counts).toMatchObject({ stuck: 1, requeued: 0, failed: 1 });
    const asset = await waitTerminal(stack, id);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'internal' } });
    expect(await eventsFor(id)).toEqual([expect.objectContaining({ assetId: id, status: 'failed' })]);
  });
});

describe('report-orphans', () => {
  it('reports objects without a live asset and ready assets without an object, and deletes nothing', async () => {
    const store = stack.services.bucket.store;
    // A ready asset with its object, one whose object vanished, and an object nobody refers to.
    bot.addFile({ fileId: 'orphan-good', fileUniqueId: 'orphan-good-u', bytes: makePng(13, 13) });
    const good = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'orphan-good' } } });
    bot.addFile({ fileId: 'orphan-gone', fileUniqueId: 'orphan-gone-u', bytes: makePng(14, 14) });
    const gone = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'orphan-gone' } } });
    const goodAsset = await waitTerminal(stack, good.body.assetId);
    const goneAsset = await waitTerminal(stack, gone.body.assetId);
    await store.delete(goneAsset.key);
    const strayKey = 'i/00000000-0000-4000-8000-0000000057a7.png';
    await store.put(strayKey, makePng(3, 3), 'image/png');

    // Young objects are skipped by default (their job may be recording them right now).
    const young = await sweep('report-orphans');
    expect(young.counts.orphanObjects).toBe(0);
    expect(young.counts.missingObjects).toBe(1);
    expect(young.samples?.missingObjects).toEqual([goneAsset.id]);

    const result = await sweep('report-orphans', withConfig({ STUCK_AFTER_SECONDS: 0 }));
    expect(result.samples?.orphanObjects).toEqual([strayKey]);
    expect(result.samples?.missingObjects).toEqual([goneAsset.id]);
    expect(result.samples?.orphanObjects).not.toContain(goodAsset.key);
    // Reported, not deleted.
    expect(await store.head(strayKey)).toBeDefined();
    expect(await store.head(goodAsset.key)).toBeDefined();
    await store.delete(strayKey);
  });
});

describe('sweep-staging', () => {
  const store = () => stack.services.bucket.store;
  const staged = async (id: string) => (await store().head(`staging/${id}`)) !== undefined;
  /** Sweeps with a minimum age of 0 (objects made by the test are seconds old). */
  const sweepNow = () => sweep('sweep-staging', withConfig({ STAGING_SWEEP_MIN_AGE_SECONDS: 0 }));

  it('deletes at once the object a still-valid URL re-creates after finalize; never a pending or processing upload', async () => {
    const png = makePng(21, 21);
    const done = await createUpload(png);
    expect(await putUpload(done.upload, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${done.assetId}/complete`, { method: 'POST' })).status).toBe(202);
    const asset = await waitTerminal(stack, done.assetId);
    expect(asset.status).toBe('ready');
    expect(await putUpload(done.upload, png)).toBe(200); // the URL still works: the object is back
    expect(await staged(done.assetId)).toBe(true);

    const pending = await createUpload(png);
    expect(await putUpload(pending.upload, png)).toBe(200);
    const processing = await createUpload(png);
    expect(await putUpload(processing.upload, png)).toBe(200);
    await sql(`UPDATE "Asset" SET status = 'processing' WHERE id = $1`, [processing.assetId]);

    // Default minimum age (600 s): the ready asset's object goes anyway.
    const result = await sweep('sweep-staging');
    expect(result.samples?.deleted).toContain(`staging/${done.assetId}`);
    expect(result.counts.ready).toBeGreaterThanOrEqual(1);
    expect(await staged(done.assetId)).toBe(false);
    // The published bytes are untouched.
    expect(sha256(new Uint8Array(await (await fetch(asset.url)).arrayBuffer()))).toBe(sha256(png));

    // However old: an upload still pending or being checked keeps its object.
    const again = await sweepNow();
    expect(again.samples?.deleted ?? []).not.toContain(`staging/${pending.assetId}`);
    expect(await staged(pending.assetId)).toBe(true);
    expect(await staged(processing.assetId)).toBe(true);
    await sql(`UPDATE "Asset" SET status = 'failed' WHERE id = $1`, [processing.assetId]);
  });

  it('deletes, once past the minimum age, the object of a failed, an expired and a deleted asset, and one of no asset', async () => {
    // Failed: not an image; finalize deletes the object, then a second PUT through the valid URL brings it back.
    const junk = Buffer.alloc(64, 0x41);
    const failed = await createUpload(junk);
    expect(await putUpload(failed.upload, junk)).toBe(200);
    await stack.call(`/v1/uploads/${failed.assetId}/complete`, { method: 'POST' });
    expect((await waitTerminal(stack, failed.assetId)).status).toBe('failed');
    expect(await putUpload(failed.upload, junk)).toBe(200);

    // Expired, its object left behind (the expiry's delete failed, or the key was already forgotten).
    const png = makePng(22, 22);
    const expired = await createUpload(png);
    expect(await putUpload(expired.upload, png)).toBe(200);
    await sql(`UPDATE "Asset" SET status = 'expired', "stagingKey" = NULL WHERE id = $1`, [expired.assetId]);

    // Deleted: DELETE removes the object, the still-valid URL re-creates it.
    const deleted = await createUpload(png);
    expect((await stack.call(`/v1/assets/${deleted.assetId}`, { method: 'DELETE' })).status).toBe(204);
    expect(await putUpload(deleted.upload, png)).toBe(200);

    // No asset at all.
    const strayKey = `staging/${crypto.randomUUID()}`;
    await store().put(strayKey, png, 'image/png');
    const otherShape = 'staging/not-an-asset-id';
    await store().put(otherShape, png, 'image/png');

    const keys = [failed.assetId, expired.assetId, deleted.assetId].map((id) => `staging/${id}`).concat(strayKey, otherShape);
    for (const k of keys) expect(await store().head(k)).toBeDefined();

    // Younger than the default minimum age: an in-flight finalize might still read them.
    const young = await sweep('sweep-staging');
    for (const k of keys) expect(young.samples?.deleted ?? []).not.toContain(k);
    for (const k of keys) expect(await store().head(k)).toBeDefined();

    const result = await sweepNow();
    expect(result.samples?.deleted).toEqual(expect.arrayContaining(keys));
    expect(result.counts).toMatchObject({ deleteErrors: 0 });
    expect(result.counts.failed).toBeGreaterThanOrEqual(1);
    expect(result.counts.expired).toBeGreaterThanOrEqual(1);
    expect(result.counts.assetDeleted).toBeGreaterThanOrEqual(1);
    expect(result.counts.deleted).toBeGreaterThanOrEqual(keys.length);
    expect(result.counts.unknown).toBeGreaterThanOrEqual(2);
    for (const k of keys) expect(await store().head(k)).toBeUndefined();
    // Nothing is left under staging/ but what a pending or processing upload still needs.
    const left = await store().listKeys('staging/');
    const { rows } = await sql(`SELECT id FROM "Asset" WHERE status IN ('pending_upload', 'processing') AND "deletedAt" IS NULL`);
    const needed = new Set(rows.map((r) => `staging/${r.id as string}`));
    expect(left.filter((k) => !needed.has(k))).toEqual([]);
  });
});

describe('schedules', () => {
  it('registers one scheduler per task, idempotently, and removes them with an interval of 0', async () => {
    const queue = stack.apiCtx.queues.queues.maintenance;
    await scheduleMaintenance(queue, 60_000);
    await scheduleMaintenance(queue, 60_000); // a second worker starting
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key).sort()).toEqual(MAINTENANCE_TASKS.map(maintenanceSchedulerId).sort());
    expect(new Set(schedulers.map((s) => s.every))).toEqual(new Set([60_000]));
    await scheduleMaintenance(queue, 0);
    expect(await queue.getJobSchedulersCount()).toBe(0);
  });
});
