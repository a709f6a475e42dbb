/**
 * MaintenanceRepo and WebhooksRepo on plain pg: the parts the end-to-end suites (test/src/
 * maintenance.test.ts, webhooks.test.ts) reach rarely or never — the delivery log as rows, and a
 * scan of ready assets that spans pages.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '@rehost/testing';
import { AssetsRepo, createSql, MaintenanceRepo, type SqlPool, WebhooksRepo } from '../src/index.js';

let tdb: TestDatabase;
let sql: SqlPool;
let assets: AssetsRepo;

beforeAll(async () => {
  tdb = await createTestDatabase();
  sql = createSql(tdb.url);
  assets = new AssetsRepo(sql);
});
afterAll(async () => {
  await sql?.end();
  await tdb?.drop();
});

const rehost = async (extra = {}) =>
  (await assets.createRehost({ id: randomUUID(), sourceType: 'telegram', telegramFileId: `f-${randomUUID()}`, telegramBot: 'default', ...extra })).asset;

describe('WebhooksRepo', () => {
  it('records every attempt as a row (id made here, createdAt a Date) and reads them back oldest first', async () => {
    const webhooks = new WebhooksRepo(sql);
    const { id: assetId } = await rehost({ callbackUrl: 'https://hooks.example/a' });
    const before = Date.now();
    const first = await webhooks.recordDelivery({ assetId, url: 'https://hooks.example/a', attempt: 1, statusCode: 500, error: 'x'.repeat(1500), durationMs: 12.6 });
    const second = await webhooks.recordDelivery({ assetId, url: 'https://hooks.example/a', attempt: 2, statusCode: 200 });

    expect(first).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      assetId,
      url: 'https://hooks.example/a',
      attempt: 1,
      statusCode: 500,
      error: 'x'.repeat(1000),
      durationMs: 13,
      createdAt: expect.any(Date),
    });
    expect(Math.abs(first.createdAt.getTime() - before)).toBeLessThan(60_000);
    expect(second).toMatchObject({ attempt: 2, statusCode: 200, error: null, durationMs: null });
    expect(await webhooks.deliveriesFor(assetId)).toEqual([first, second]);
    expect(await webhooks.deliveriesFor(randomUUID())).toEqual([]);
  });

  it('gives the callback URL of a live asset only', async () => {
    const webhooks = new WebhooksRepo(sql);
    const withCallback = await rehost({ callbackUrl: 'https://hooks.example/b' });
    const without = await rehost();
    expect(await webhooks.callbackUrlFor(withCallback.id)).toBe('https://hooks.example/b');
    expect(await webhooks.callbackUrlFor(without.id)).toBeNull();
    await assets.softDelete(withCallback.id);
    expect(await webhooks.callbackUrlFor(withCallback.id)).toBeNull();
  });
});

describe('MaintenanceRepo', () => {
  it('scans live ready assets page by page, in id order, each once', async () => {
    const maintenance = new MaintenanceRepo(sql);
    const ready: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await rehost();
      await assets.markReady(id, { key: `i/${id}.png`, contentType: 'image/png', size: 1, width: 1, height: 1, sha256: 'a'.repeat(64), sourceSha256: null, orientation: null, metadataRemoved: [] });
      ready.push(id);
    }
    await assets.softDelete(ready.pop()!);
    await rehost(); // queued: not part of the scan

    const seen: { id: string; key: string | null }[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await maintenance.readyAssetsAfter(after, 2);
      if (page.length === 0) break;
      seen.push(...page);
      after = page.at(-1)!.id;
    }
    expect(seen).toEqual([...ready].sort().map((id) => ({ id, key: `i/${id}.png` })));
  });
});
