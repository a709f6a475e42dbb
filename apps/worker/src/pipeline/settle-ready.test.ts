import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@rehost/logger';
import type { WorkerContext } from '../context.js';
import { settleLostReady } from './settle-ready.js';

const ID = '6d2c9d7e-4f7b-4b1a-9c1e-2f3a4b5c6d7e';
const KEY = `i/${ID}.png`;
const log = createLogger({ name: 'test', level: 'silent' });

/** The asset as the database has it now, the keys live assets refer to, and the deletes made. */
function fakeContext(asset: Record<string, unknown> | null, liveKeys: string[]) {
  const deleted: string[] = [];
  const ctx = {
    config: { PUBLIC_BASE_URL: 'https://cdn.example' },
    assets: { get: async () => asset },
    db: { asset: { findMany: async ({ where }: { where: { key: { in: string[] } } }) => where.key.in.filter((k) => liveKeys.includes(k)).map((key) => ({ key })) } },
    store: { delete: async (key: string) => void deleted.push(key) },
  } as unknown as WorkerContext;
  return { ctx, deleted };
}

describe('settleLostReady', () => {
  it('keeps the object another run of the job published under the same key, and reports ready', async () => {
    const { ctx, deleted } = fakeContext({ id: ID, status: 'ready', key: KEY }, [KEY]);
    await expect(settleLostReady(ctx, ID, KEY, log)).resolves.toEqual({ assetId: ID, status: 'ready', url: `https://cdn.example/${KEY}` });
    expect(deleted).toEqual([]);
  });

  it('deletes the object of an asset deleted meanwhile, when nothing else refers to it', async () => {
    const { ctx, deleted } = fakeContext(null, []);
    await expect(settleLostReady(ctx, ID, KEY, log)).resolves.toMatchObject({ status: 'failed', error: { code: 'not_found' } });
    expect(deleted).toEqual([KEY]);
  });

  it('deletes its own stray object when the asset became ready on another key (shared)', async () => {
    const other = 'i/00000000-0000-4000-8000-000000000001.png';
    const { ctx, deleted } = fakeContext({ id: ID, status: 'ready', key: other }, [other]);
    await expect(settleLostReady(ctx, ID, KEY, log)).resolves.toEqual({ assetId: ID, status: 'ready', url: `https://cdn.example/${other}` });
    expect(deleted).toEqual([KEY]);
  });

  it('reports a failure recorded by another run as it is', async () => {
    const { ctx } = fakeContext({ id: ID, status: 'failed', key: null, errorCode: 'not_an_image', errorMessage: 'nope' }, []);
    await expect(settleLostReady(ctx, ID, KEY, log)).resolves.toEqual({ assetId: ID, status: 'failed', error: { code: 'not_an_image', message: 'nope' } });
  });
});
