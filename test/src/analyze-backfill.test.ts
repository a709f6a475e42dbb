/** `pnpm rehost analyze`: fills the facts of assets stored without them, resumably. */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runAnalyzeBackfill } from '@rehost/cli/analyze';
import { makePng } from '@rehost/testing';
import { scenePng } from '@rehost/worker/image-fixtures';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;

beforeAll(async () => {
  // Stored "before analysis existed": nothing is analysed on its own here.
  stack = await startStack({ env: { ANALYZE_IMAGES: 'false' } });
});
afterAll(async () => {
  await stack?.close();
});

async function upload(bytes: Buffer): Promise<string> {
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bytes.length } });
  await putUpload(res.body.upload, bytes);
  await stack.call(`/v1/uploads/${res.body.assetId}/complete`, { method: 'POST' });
  expect((await waitTerminal(stack, res.body.assetId)).status).toBe('ready');
  return res.body.assetId as string;
}

function run(signal?: AbortSignal) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const env = stack.services.env;
  const done = runAnalyzeBackfill({
    databaseUrl: env.DATABASE_URL!,
    redisUrl: env.REDIS_URL!,
    queuePrefix: env.QUEUE_PREFIX!,
    batch: 2,
    maxWaiting: 2,
    wait: true,
    progressEveryMs: 0,
    out: out as unknown as NodeJS.WriteStream,
    ...(signal ? { signal } : {}),
  });
  return done.then((code) => ({ code, text }));
}

describe('pnpm rehost analyze', () => {
  it('analyses every ready asset without facts, reports progress, and a rerun has nothing left to do', async () => {
    const ids = [await upload(await scenePng(60, 120, 90)), await upload(await scenePng(61, 120, 90)), await upload(makePng(9, 7))];
    for (const id of ids) expect((await stack.call(`/v1/assets/${id}`)).body.phash).toBeNull();

    // Interrupted before it started: nothing enqueued, exit 130; the database still says what is missing.
    const stop = new AbortController();
    stop.abort();
    expect((await run(stop.signal)).code).toBe(130);
    for (const id of ids) expect((await stack.call(`/v1/assets/${id}`)).body.phash).toBeNull();

    const first = await run();
    expect(first.code).toBe(0);
    expect(first.text).toContain('analyze: 100.0% 3/3 analysed');
    for (const id of ids) {
      const view = (await stack.call(`/v1/assets/${id}`)).body;
      expect(view.phash).toMatch(/^[0-9a-f]{16}$/);
      expect(view.placeholder).not.toBeNull();
    }

    const again = await run();
    expect(again.code).toBe(0);
    expect(again.text).toContain('0/0 analysed · 0 enqueued');
  });
});
