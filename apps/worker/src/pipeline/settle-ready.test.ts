import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@rehost/logger';
import type { WorkerContext } from '../context.js';
import { discardUnrecorded, settleLostReady } from './settle-ready.js';

const ID = '6d2c9d7e-4f7b-4b1a-9c1e-2f3a4b5c6d7e';
const OWN = 'i/0123456789abcdef0123aabbccddeeff.png';
const WINNER = 'i/0123456789abcdef0123112233445566.png';
const log = createLogger({ name: 'test', level: 'silent' });

/** The asset as the database has it now (or a read that fails), and the deletes made. */
function fakeContext(asset: Record<string, unknown> | null | Error) {
  const deleted: string[] = [];
  const ctx = {
    config: { PUBLIC_BASE_URL: 'https://cdn.example' },
    assets: {
      get: async () => {
        if (asset instanceof Error) throw asset;
        return asset;
      },
    },
    store: { delete: async (key: string) => void deleted.push(key) },
  } as unknown as WorkerContext;
  return { ctx, deleted };
}

describe('settleLostReady (keys are per run: the losing run deletes only its own object)', () => {
  it('reports the winner\'s URL and deletes its own object, never the winner\'s', async () => {
    const { ctx, deleted } = fakeContext({ id: ID, status: 'ready', key: WINNER });
    await expect(settleLostReady(ctx, ID, OWN, log)).resolves.toEqual({ assetId: ID, status: 'ready', url: `https://cdn.example/${WINNER}` });
    expect(deleted).toEqual([OWN]);
  });

  it('deletes its object when the asset was deleted meanwhile', async () => {
    const { ctx, deleted } = fakeContext(null);
    await expect(settleLostReady(ctx, ID, OWN, log)).resolves.toEqual({ assetId: ID, status: 'deleted' });
    expect(deleted).toEqual([OWN]);
  });

  it('reports a failure recorded by another run as it is', async () => {
    const { ctx } = fakeContext({ id: ID, status: 'failed', key: null, errorCode: 'not_an_image', errorMessage: 'nope' });
    await expect(settleLostReady(ctx, ID, OWN, log)).resolves.toEqual({ assetId: ID, status: 'failed', error: { code: 'not_an_image', message: 'nope' } });
  });
});

describe('discardUnrecorded (markReady threw: did it commit?)', () => {
  it('keeps the object when the row names it (the UPDATE committed before the connection died)', async () => {
    const { ctx, deleted } = fakeContext({ id: ID, status: 'ready', key: OWN });
    await discardUnrecorded(ctx, ID, OWN, log);
    expect(deleted).toEqual([]);
  });

  it('deletes it when the row does not', async () => {
    const { ctx, deleted } = fakeContext({ id: ID, status: 'processing', key: null });
    await discardUnrecorded(ctx, ID, OWN, log);
    expect(deleted).toEqual([OWN]);
  });

  it('keeps it when the database cannot be read (the orphan report finds it later)', async () => {
    const { ctx, deleted } = fakeContext(new Error('connection refused'));
    await discardUnrecorded(ctx, ID, OWN, log);
    expect(deleted).toEqual([]);
  });
});
