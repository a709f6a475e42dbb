import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@rehost/testing';
import { AssetsRepo, type AssetsRepoHooks, createSql, dedupeKeyForTelegram, type SharedObject, type SqlPool } from '../src/index.js';

let tdb: TestDatabase;
let sql: SqlPool;
let repo: AssetsRepo;

beforeAll(async () => {
  tdb = await createTestDatabase();
  sql = createSql(tdb.url);
  repo = new AssetsRepo(sql);
});
afterAll(async () => {
  await sql?.end();
  await tdb?.drop();
});

const telegram = (fileId: string, extra = {}) => ({ id: randomUUID(), sourceType: 'telegram' as const, telegramFileId: fileId, telegramBot: 'default', ...extra });
const image = (key: string) => ({
  key,
  contentType: 'image/png',
  size: 10,
  width: 1,
  height: 1,
  sha256: 'a'.repeat(64),
  sourceSha256: 'b'.repeat(64),
  orientation: 6,
  metadataRemoved: ['exif', 'gps'],
});
const shared = (key: string, fileKey: string | null = null): SharedObject => ({ ...image(key), fileKey, telegramFileUniqueId: null });

/** A ready asset on `key` (as a job would leave it). */
async function readyAsset(key: string, fileKey: string | null = null) {
  const { asset } = await repo.createRehost(telegram(`f-${randomUUID()}`));
  expect(await repo.markReady(asset.id, image(key), fileKey)).toEqual({ followersWaiting: false });
  return asset.id;
}

/** Resolves once `n` callers have arrived; each caller waits for all. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  return async () => {
    if (++arrived === n) open();
    await all;
  };
}

/** Bounded poll: true once some transaction waits for an advisory lock. */
async function someoneWaitsForAdvisoryLock(timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
    if (rows[0].n > 0) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('schema rules the database enforces', () => {
  it('lives in the suite schema, not public', async () => {
    const { rows } = await tdb.query(`SELECT table_schema FROM information_schema.tables WHERE table_name = 'Asset' AND table_schema = $1`, [tdb.schema]);
    expect(rows).toHaveLength(1);
  });

  it('a file claim can be held only by a live queued/processing row (CHECK constraint)', async () => {
    const id = await readyAsset(`i/${randomUUID()}.png`);
    const err = await sql.query(`UPDATE "Asset" SET "dedupeKey" = 'tg:check-1' WHERE id = $1`, [id]).catch((e: { code?: string }) => e);
    expect((err as { code?: string }).code).toBe('23514');
    const { asset } = await repo.createRehost(telegram('f-check'));
    await repo.softDelete(asset.id);
    const err2 = await sql.query(`UPDATE "Asset" SET "dedupeKey" = 'tg:check-2' WHERE id = $1`, [asset.id]).catch((e: { code?: string }) => e);
    expect((err2 as { code?: string }).code).toBe('23514');
  });

  it('one idempotency key, ten concurrent inserts: one asset, all ten see it', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => repo.createRehost(telegram(`f-${i}`, { idempotencyKey: 'scope:k-1', requestHash: `h${i}` }))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.asset.id)).size).toBe(1);
  });

  it('an idempotency key stays taken by its deleted asset (a retry after DELETE is told so, never given a new one)', async () => {
    const first = await repo.createRehost(telegram('f-del', { idempotencyKey: 'scope:k-2' }));
    await repo.softDelete(first.asset.id);
    const again = await repo.createRehost(telegram('f-del', { idempotencyKey: 'scope:k-2' }));
    expect(again.created).toBe(false);
    expect(again.asset.id).toBe(first.asset.id);
    expect(again.asset.deletedAt).not.toBeNull();
  });
});

describe('file claims', () => {
  it('one asset at a time stores a file; the claim passes on when it is ready', async () => {
    const a = (await repo.createRehost(telegram('f-c1'))).asset;
    const b = (await repo.createRehost(telegram('f-c1'))).asset;
    const key = dedupeKeyForTelegram('claim-1');
    expect((await repo.claimFile(a.id, key, 'claim-1')).outcome).toBe('claimed');
    expect((await repo.claimFile(b.id, key, 'claim-1')).outcome).toBe('held');
    await repo.markReady(a.id, image(`i/${randomUUID()}.png`), key);
    expect((await repo.findStoredFile(key))?.id).toBe(a.id);
    // The claim passes on, and the same statement names the stored copy to share.
    const next = await repo.claimFile(b.id, key, 'claim-1');
    expect(next.outcome).toBe('claimed');
    expect(next.stored?.id).toBe(a.id);
    // What sharing needs of it, not the whole row: the claim runs once per rehost job.
    expect(Object.keys(next.stored!).sort()).toEqual(
      ['id', 'key', 'contentType', 'size', 'width', 'height', 'sha256', 'sourceSha256', 'orientation', 'metadataRemoved', 'telegramFileUniqueId'].sort(),
    );
  });

  it('a follower marks the holder and its ready reports it; once the holder let go there is none to mark', async () => {
    const key = dedupeKeyForTelegram(`wait-${randomUUID()}`);
    const a = (await repo.createRehost(telegram(`f-${randomUUID()}`))).asset;
    expect((await repo.claimFile(a.id, key, 'wait')).outcome).toBe('claimed');
    expect(await repo.markFollowersWaiting(key)).toBe(true);
    expect(await repo.markReady(a.id, image(`i/${randomUUID()}.png`), key)).toEqual({ followersWaiting: true });
    // Let go: a follower finds no holder to mark, and looks again at once.
    expect(await repo.markFollowersWaiting(key)).toBe(false);
    // Nobody waited for the next holder of another file: its ready says so (no wake).
    const otherKey = dedupeKeyForTelegram(`wait-${randomUUID()}`);
    const b = (await repo.createRehost(telegram(`f-${randomUUID()}`))).asset;
    expect((await repo.claimFile(b.id, otherKey, 'wait-2')).outcome).toBe('claimed');
    expect(await repo.markReady(b.id, image(`i/${randomUUID()}.png`), otherKey)).toEqual({ followersWaiting: false });
  });

  it("a mark racing the holder's ready: the row lock orders them, and the ready that waited reports the mark", async () => {
    const key = dedupeKeyForTelegram(`race-${randomUUID()}`);
    const a = (await repo.createRehost(telegram(`f-${randomUUID()}`))).asset;
    expect((await repo.claimFile(a.id, key, 'race')).outcome).toBe('claimed');
    // The follower's mark, held uncommitted: the holder's ready must wait for it, then see it.
    const follower = await sql.connect();
    try {
      await follower.query('BEGIN');
      await follower.query(`UPDATE "Asset" SET "followersWaiting" = true WHERE "dedupeKey" = $1`, [key]);
      const ready = repo.markReady(a.id, image(`i/${randomUUID()}.png`), key);
      // Bounded: until the ready's statement waits on the mark's row lock (not a sleep).
      for (let i = 0; ; i++) {
        const { rows } = await sql.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%followersWaiting"%' AND query LIKE 'UPDATE "Asset" SET status%'`);
        if (rows[0].n > 0) break;
        if (i > 200) throw new Error('the ready never waited for the mark');
        await new Promise((r) => setTimeout(r, 25));
      }
      await follower.query('COMMIT');
      expect(await ready).toEqual({ followersWaiting: true });
    } finally {
      follower.release();
    }
    expect(await repo.markFollowersWaiting(key)).toBe(false);
  });

  it('a claim that waited for the holder to let go still finds what the holder stored (no second download)', async () => {
    const a = (await repo.createRehost(telegram('f-c5'))).asset;
    const b = (await repo.createRehost(telegram('f-c5'))).asset;
    const key = dedupeKeyForTelegram('claim-5');
    expect((await repo.claimFile(a.id, key, 'claim-5')).outcome).toBe('claimed');
    // The holder's markReady, held open: B's claim begins (its snapshot) before it commits.
    const holder = await sql.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        `UPDATE "Asset" SET status = 'ready', "key" = $2, "contentType" = 'image/png', size = 10, width = 1, height = 1,
           sha256 = $3, "fileKey" = $4, "dedupeKey" = NULL WHERE id = $1`,
        [a.id, `i/${randomUUID()}.png`, 'a'.repeat(64), key],
      );
      const claiming = repo.claimFile(b.id, key, 'claim-5');
      // B waits on the unique index for A's transaction (a lock wait shows in pg_locks).
      const deadline = Date.now() + 5000;
      for (;;) {
        const { rows } = await sql.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`);
        if (rows[0].n > 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await holder.query('COMMIT');
      const claim = await claiming;
      expect(claim.outcome).toBe('claimed');
      expect(claim.stored?.id).toBe(a.id);
    } finally {
      holder.release();
    }
  });

  it('a deleted asset releases its claim and cannot take it again (a later request is stored normally)', async () => {
    const a = (await repo.createRehost(telegram('f-c2'))).asset;
    const key = dedupeKeyForTelegram('claim-2');
    expect((await repo.claimFile(a.id, key, 'claim-2')).outcome).toBe('claimed');
    await repo.softDelete(a.id);
    // The deleted asset's job wakes up inside getFile and tries to claim again:
    expect((await repo.claimFile(a.id, key, 'claim-2')).outcome).toBe('gone');
    const b = (await repo.createRehost(telegram('f-c2'))).asset;
    expect((await repo.claimFile(b.id, key, 'claim-2')).outcome).toBe('claimed');
  });

  it('a failed asset releases its claim', async () => {
    const a = (await repo.createRehost(telegram('f-c3'))).asset;
    const key = dedupeKeyForTelegram('claim-3');
    await repo.claimFile(a.id, key, 'claim-3');
    expect(await repo.markFailed(a.id, 'telegram_unavailable', 'down')).toBe(true);
    const b = (await repo.createRehost(telegram('f-c3'))).asset;
    expect((await repo.claimFile(b.id, key, 'claim-3')).outcome).toBe('claimed');
  });

  it('a deleted ready asset is no stored copy', async () => {
    const key = dedupeKeyForTelegram('claim-4');
    const id = await readyAsset(`i/${randomUUID()}.png`, key);
    await repo.softDelete(id);
    expect(await repo.findStoredFile(key)).toBeNull();
  });
});

describe('createTelegramRehost', () => {
  it('inserts a file not stored yet; a stored one comes back instead, and nothing is inserted', async () => {
    const fileId = `f-tg-${randomUUID()}`;
    const first = await repo.createTelegramRehost(telegram(fileId));
    expect(first).toEqual({ asset: expect.objectContaining({ status: 'queued', telegramFileId: fileId }), created: true });
    // The columns of an InsertedRehost, not the whole row: this statement runs once per request.
    expect(Object.keys((first as { asset: object }).asset).sort()).toEqual(
      ['id', 'sourceType', 'sourceUrl', 'status', 'telegramBot', 'telegramFileId', 'telegramFileUniqueId'].sort(),
    );
    const firstId = (first as { asset: { id: string } }).asset.id;
    // Queued is not stored: a second request inserts its own asset.
    const second = await repo.createTelegramRehost(telegram(fileId));
    expect(second).toMatchObject({ created: true });
    expect(await repo.markReady(firstId, image(`i/${randomUUID()}.png`), dedupeKeyForTelegram(`u-${fileId}`))).toBeTruthy();

    const row = telegram(fileId);
    expect(await repo.createTelegramRehost(row)).toEqual({ stored: expect.objectContaining({ id: firstId, status: 'ready' }) });
    expect(await repo.get(row.id)).toBeNull();
    // Another bot's file id is another file.
    expect(await repo.createTelegramRehost(telegram(fileId, { telegramBot: 'other' }))).toMatchObject({ created: true });
    // Deleted, the stored asset is no longer found.
    await repo.softDelete(firstId);
    expect(await repo.createTelegramRehost(telegram(fileId))).toMatchObject({ created: true });
  });

  it('a taken idempotency key returns its holder; with a quota, the owner is charged only for an insert', async () => {
    const key = `scope:tg-${randomUUID()}`;
    const held = await repo.createTelegramRehost(telegram(`f-${randomUUID()}`, { idempotencyKey: key }));
    expect(held).toMatchObject({ created: true });
    const again = await repo.createTelegramRehost(telegram(`f-${randomUUID()}`, { idempotencyKey: key }));
    expect(again).toEqual({ asset: expect.objectContaining({ id: (held as { asset: { id: string } }).asset.id }), created: false });

    const ownerId = `o-${randomUUID()}`;
    const fileId = `f-q-${randomUUID()}`;
    const quota = { maxAssets: 1 };
    const mine = await repo.createTelegramRehost(telegram(fileId, { ownerId }), quota);
    expect(mine).toMatchObject({ created: true });
    expect(await repo.markReady((mine as { asset: { id: string } }).asset.id, image(`i/${randomUUID()}.png`), dedupeKeyForTelegram(fileId))).toBeTruthy();
    // At its limit, the owner still learns the file is stored (sharing is charged by createShared).
    expect(await repo.createTelegramRehost(telegram(fileId, { ownerId }), quota)).toMatchObject({ stored: { status: 'ready' } });
    await expect(repo.createTelegramRehost(telegram(`f-${randomUUID()}`, { ownerId }), quota)).rejects.toThrow('quota');
  });
});

describe('transitions', () => {
  it('are compare-and-set: only one of two racing transitions wins; a late failure cannot undo ready', async () => {
    const { asset } = await repo.createRehost({ id: randomUUID(), sourceType: 'url', sourceUrl: 'https://x/y.png' });
    const [a, b] = await Promise.all([repo.transition(asset.id, ['queued'], 'processing'), repo.transition(asset.id, ['queued'], 'processing')]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await repo.markReady(asset.id, image('i/x.png'))).toBeTruthy();
    expect(await repo.markFailed(asset.id, 'internal', 'late failure')).toBe(false);
    expect(await repo.markReady(asset.id, image('i/other.png'))).toBeNull();
    expect((await repo.get(asset.id))?.key).toBe('i/x.png');
  });

  it('markReady records the stored facts: displayed size, orientation, source hash, kinds removed', async () => {
    const { asset } = await repo.createRehost(telegram('f-facts'));
    expect(await repo.markReady(asset.id, image('i/facts.png'))).toBeTruthy();
    const row = await repo.get(asset.id);
    expect(row).toMatchObject({ sha256: 'a'.repeat(64), sourceSha256: 'b'.repeat(64), orientation: 6, metadataRemoved: ['exif', 'gps'] });
    const twin = await repo.createShared(telegram('f-facts-2'), shared('i/facts.png'));
    expect(twin?.asset).toMatchObject({ sourceSha256: 'b'.repeat(64), orientation: 6, metadataRemoved: ['exif', 'gps'] });
  });

  it('reads timestamps as UTC, as Prisma writes them', async () => {
    const before = Date.now();
    const { asset } = await repo.createRehost(telegram('f-time'));
    expect(Math.abs(asset.createdAt.getTime() - before)).toBeLessThan(60_000);
  });
});

describe('a shared object and its last delete (serialised per key)', () => {
  it('two sharers deleted at the same moment: exactly one of them deletes the object', async () => {
    // Both deletes mark their row first, then meet; only the per-key lock decides who counts last.
    for (let round = 0; round < 4; round++) {
      const key = `i/${randomUUID()}.png`;
      const one = await readyAsset(key);
      const two = (await repo.createShared(telegram('f-share'), shared(key)))!.asset.id;
      const roundMeet = barrier(2);
      const r = new AssetsRepo(sql, { afterDeleteMarked: () => roundMeet() });
      const results = await Promise.all([r.softDelete(one), r.softDelete(two)]);
      expect(results.map((x) => x?.deleteObject).filter(Boolean)).toHaveLength(1);
    }
  });

  it('a share that saw the object first makes the racing last delete keep it', async () => {
    const key = `i/${randomUUID()}.png`;
    const owner = await readyAsset(key);
    let checked!: () => void;
    let release!: () => void;
    const shareChecked = new Promise<void>((r) => (checked = r));
    const hooks: AssetsRepoHooks = {
      afterShareChecked: async () => {
        checked();
        await new Promise<void>((r) => (release = r));
      },
    };
    const sharing = new AssetsRepo(sql, hooks).createShared(telegram('f-share-2'), shared(key));
    await shareChecked;
    const deleting = repo.softDelete(owner);
    // With the lock the delete must wait for the share to commit; without it, it would finish now.
    const deleteWaited = await someoneWaitsForAdvisoryLock(2000);
    release();
    const [share, del] = await Promise.all([sharing, deleting]);
    expect(deleteWaited).toBe(true);
    expect(share?.asset.status).toBe('ready');
    expect(del?.deleteObject).toBe(false);
    expect((await repo.softDelete(share!.asset.id))?.deleteObject).toBe(true);
  });

  it('a share after the last delete finds no object and creates nothing', async () => {
    const key = `i/${randomUUID()}.png`;
    const owner = await readyAsset(key);
    expect((await repo.softDelete(owner))?.deleteObject).toBe(true);
    expect(await repo.createShared(telegram('f-share-3'), shared(key))).toBeNull();
    const waiting = (await repo.createRehost(telegram('f-share-3'))).asset;
    expect(await repo.markReadyShared(waiting.id, shared(key))).toBe('unavailable');
  });
});
