import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@rehost/testing';
import { AssetsRepo, createDb, type Db, dedupeKeyForTelegram, isUniqueViolation } from '../src/index.js';

let tdb: TestDatabase;
let db: Db;
let repo: AssetsRepo;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = createDb(tdb.url);
  repo = new AssetsRepo(db);
});
afterAll(async () => {
  await db?.$disconnect();
  await tdb?.drop();
});

const telegram = (fileUniqueId: string, extra = {}) => ({
  id: randomUUID(),
  sourceType: 'telegram' as const,
  telegramFileId: `file-${fileUniqueId}`,
  telegramFileUniqueId: fileUniqueId,
  telegramBot: 'default',
  dedupeKey: dedupeKeyForTelegram(fileUniqueId),
  ...extra,
});

describe('schema uniqueness rules', () => {
  it('lives in the suite schema, not public', async () => {
    const { rows } = await tdb.query(`SELECT table_schema FROM information_schema.tables WHERE table_name = 'Asset' AND table_schema = $1`, [tdb.schema]);
    expect(rows).toHaveLength(1);
  });

  it('rejects a second live asset with the same dedupe key at the database', async () => {
    await repo.createRehost(telegram('uniq-1'));
    let err: unknown;
    try {
      await db.asset.create({ data: { id: randomUUID(), status: 'queued', sourceType: 'telegram', dedupeKey: dedupeKeyForTelegram('uniq-1') } });
    } catch (e) {
      err = e;
    }
    expect(isUniqueViolation(err)).toBe(true);
  });

  it('rejects a duplicate idempotency key at the database', async () => {
    await db.asset.create({ data: { id: randomUUID(), status: 'queued', sourceType: 'url', idempotencyKey: 'k-1' } });
    const err = await db.asset.create({ data: { id: randomUUID(), status: 'queued', sourceType: 'url', idempotencyKey: 'k-1' } }).catch((e: unknown) => e);
    expect(isUniqueViolation(err)).toBe(true);
  });

  it('20 concurrent creates for one Telegram file make exactly one asset', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => repo.createRehost(telegram('race-1'))));
    const ids = new Set(results.map((r) => r.asset.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const { rows } = await tdb.query(`SELECT count(*)::int AS n FROM "${tdb.schema}"."Asset" WHERE "telegramFileUniqueId" = 'race-1'`);
    expect(rows[0]!.n).toBe(1);
  });

  it('a failed asset releases its claim so the file can be tried again', async () => {
    const first = await repo.createRehost(telegram('retry-1'));
    expect(await repo.markFailed(first.asset.id, 'telegram_unavailable', 'down')).toBe(true);
    const second = await repo.createRehost(telegram('retry-1'));
    expect(second.created).toBe(true);
    expect(second.asset.id).not.toBe(first.asset.id);
  });

  it('claimDedupeKey returns the earlier holder when the key is taken', async () => {
    const a = await repo.createRehost({ id: randomUUID(), sourceType: 'telegram', telegramFileId: 'f' });
    const b = await repo.createRehost({ id: randomUUID(), sourceType: 'telegram', telegramFileId: 'f' });
    const key = dedupeKeyForTelegram('late-1');
    expect(await repo.claimDedupeKey(a.asset.id, key, 'late-1')).toBe(a.asset.id);
    expect(await repo.claimDedupeKey(b.asset.id, key, 'late-1')).toBe(a.asset.id);
  });
});

describe('transitions', () => {
  it('are compare-and-set: only one of two racing transitions wins', async () => {
    const { asset } = await repo.createRehost({ id: randomUUID(), sourceType: 'url', sourceUrl: 'https://x/y.png' });
    const [a, b] = await Promise.all([repo.transition(asset.id, ['queued'], 'processing'), repo.transition(asset.id, ['queued'], 'processing')]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await repo.markReady(asset.id, { key: 'i/x.png', contentType: 'image/png', size: 1, width: 1, height: 1, sha256: 'a'.repeat(64) })).toBe(true);
    expect(await repo.markFailed(asset.id, 'internal', 'late failure')).toBe(false);
    expect((await repo.get(asset.id))?.status).toBe('ready');
  });

  it('soft delete hides the asset and keeps a shared object', async () => {
    const key = 'i/shared.png';
    const img = { key, contentType: 'image/png', size: 1, width: 1, height: 1, sha256: 'b'.repeat(64) };
    const one = await repo.createRehost({ id: randomUUID(), sourceType: 'url' });
    const two = await repo.createRehost({ id: randomUUID(), sourceType: 'url' });
    await repo.markReady(one.asset.id, img);
    await repo.markReady(two.asset.id, img);
    const first = await repo.softDelete(one.asset.id);
    expect(first?.deleteObject).toBe(false);
    expect(await repo.get(one.asset.id)).toBeNull();
    expect(await repo.softDelete(one.asset.id)).toBeNull();
    const second = await repo.softDelete(two.asset.id);
    expect(second?.deleteObject).toBe(true);
  });
});
