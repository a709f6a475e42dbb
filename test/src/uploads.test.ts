import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makePng, sha256, TINY_GIF } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

async function createUpload(contentType: string, size: number, extra: Record<string, unknown> = {}) {
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType, size, ...extra } });
  expect(res.status).toBe(201);
  return res.body as { assetId: string; upload: { url: string; method: string; headers: Record<string, string>; expiresAt: string } };
}

describe('direct upload: happy path', () => {
  it('stores the verified bytes at a permanent, immutable URL with the sniffed type', async () => {
    const png = makePng(64, 48);
    const { assetId, upload } = await createUpload('image/png', png.length, { filename: '../../etc/passwd.png', ownerId: 'u1' });
    expect(upload.method).toBe('PUT');
    expect(upload.headers['Content-Type']).toBe('image/png');
    expect(upload.url).not.toContain('passwd');
    expect(await putUpload(upload, png)).toBe(200);

    const done = await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    expect(done.status).toBe(202);
    expect(done.body).toEqual({ assetId, status: 'processing' });

    const asset = await waitTerminal(stack, assetId);
    expect(asset).toMatchObject({ id: assetId, status: 'ready', contentType: 'image/png', width: 64, height: 48, size: png.length, sha256: sha256(png), ownerId: 'u1' });
    expect(asset.url).toBe(`${stack.services.env.PUBLIC_BASE_URL}/${asset.key}`);
    // A key of the run's own (write-once), never the filename or a caller's choice.
    expect(asset.key).toMatch(/^i\/[0-9a-f]{32}\.png$/);

    // Anonymous GET, as the CDN does: same bytes, sniffed type, immutable caching.
    const res = await fetch(asset.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(png));

    // The staging object is gone, and staging is never publicly readable anyway.
    expect(await stack.services.bucket.store.head(`staging/${assetId}`)).toBeUndefined();
  });

  it('serves the sniffed type even when another allowed type was declared', async () => {
    const { assetId, upload } = await createUpload('image/jpeg', TINY_GIF.length);
    expect(await putUpload(upload, TINY_GIF)).toBe(200);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    expect(asset).toMatchObject({ status: 'ready', contentType: 'image/gif', width: 1, height: 1 });
    expect(asset.key).toMatch(/\.gif$/);
  });

  it('a second PUT through the still-valid URL after finalize does not change the published bytes', async () => {
    const png = makePng(10, 10);
    const { assetId, upload } = await createUpload('image/png', png.length);
    await putUpload(upload, png);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    const other = makePng(10, 10); // same length, different bytes
    expect(await putUpload(upload, other)).toBe(200);
    const res = await fetch(asset.url);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(png));
  });
});

describe('the store enforces the signature', () => {
  it('refuses a body of another length', async () => {
    const png = makePng(20, 20);
    const { upload } = await createUpload('image/png', png.length);
    const status = await putUpload(upload, Buffer.concat([png, Buffer.from('xx')]));
    expect(status).toBe(403);
  });

  it('refuses another content type', async () => {
    const png = makePng(20, 20);
    const { upload } = await createUpload('image/png', png.length);
    expect(await putUpload(upload, png, { 'Content-Type': 'image/jpeg' })).toBe(403);
  });

  it('refuses a tampered URL', async () => {
    const png = makePng(20, 20);
    const { upload } = await createUpload('image/png', png.length);
    const tampered = upload.url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    expect(tampered).not.toBe(upload.url);
    expect(await putUpload({ ...upload, url: tampered }, png)).toBe(403);
  });

  it('refuses an expired URL', async () => {
    const png = makePng(20, 20);
    // Signed an hour ago for 60 s: expired, without waiting in the test.
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const store = stack.services.bucket.store;
    const url = await getSignedUrl(
      store.client,
      new PutObjectCommand({ Bucket: store.bucket, Key: 'staging/expired-test', ContentType: 'image/png', ContentLength: png.length }),
      { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000), signableHeaders: new Set(['content-type', 'content-length']) },
    );
    expect(await putUpload({ url, headers: { 'Content-Type': 'image/png' } }, png)).toBe(403);
  });
});

describe('verification failures', () => {
  it('a non-image declared as image/png ends failed and its object is deleted', async () => {
    const html = Buffer.from('<html><script>alert(1)</script></html>');
    const { assetId, upload } = await createUpload('image/png', html.length);
    expect(await putUpload(upload, html)).toBe(200);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    expect(asset.status).toBe('failed');
    expect(asset.error.code).toBe('not_an_image');
    expect(asset.url).toBeUndefined();
    expect(await stack.services.bucket.store.head(`staging/${assetId}`)).toBeUndefined();
    expect(await stack.services.bucket.store.listKeys(`i/${assetId}`)).toEqual([]);
  });

  it('a truncated image ends failed', async () => {
    const png = makePng(40, 40);
    const cut = png.subarray(0, png.length - 20);
    const { assetId, upload } = await createUpload('image/png', cut.length);
    await putUpload(upload, cut);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'truncated_image' } });
  });
});

describe('request validation', () => {
  it('refuses an oversized declaration with 413', async () => {
    const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 20 * 1024 * 1024 + 1 } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('too_large');
  });

  it('refuses SVG and other types with 415', async () => {
    // Parameters are ignored and case does not matter (issue 17.11): 'image/png; charset=x' is image/png.
    for (const contentType of ['image/svg+xml', 'text/html', 'IMAGE/SVG+XML; charset=utf-8']) {
      const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType, size: 100 } });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('unsupported_type');
    }
  });

  it('refuses malformed bodies with 400', async () => {
    for (const json of [{}, { contentType: 'image/png' }, { contentType: 'image/png', size: -1 }, { contentType: 'image/png', size: 'x' }]) {
      const res = await stack.call('/v1/uploads', { method: 'POST', json });
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({ code: 'bad_request', message: expect.any(String) });
    }
    const broken = await stack.call('/v1/uploads', { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
  });

  it('answers 404 for unknown ids', async () => {
    for (const path of ['/v1/assets/00000000-0000-4000-8000-000000000000', '/v1/assets/not-a-uuid', '/v1/assets/00000000-0000-4000-8000-000000000000/wait?timeoutMs=0']) {
      const res = await stack.call(path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const complete = await stack.call('/v1/uploads/00000000-0000-4000-8000-000000000000/complete', { method: 'POST' });
    expect(complete.status).toBe(404);
    const del = await stack.call('/v1/assets/00000000-0000-4000-8000-000000000000', { method: 'DELETE' });
    expect(del.status).toBe(404);
  });

  it('needs the bearer token', async () => {
    const none = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 1 }, headers: { authorization: '' } });
    expect(none.status).toBe(401);
    const wrong = await stack.call('/v1/assets/00000000-0000-4000-8000-000000000000', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
  });
});

describe('complete', () => {
  it('before the upload answers 409 and leaves the asset usable', async () => {
    const png = makePng(8, 8);
    const { assetId, upload } = await createUpload('image/png', png.length);
    const early = await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('object_missing');
    expect((await stack.call(`/v1/assets/${assetId}`)).body.status).toBe('pending_upload');
    await putUpload(upload, png);
    expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
    expect((await waitTerminal(stack, assetId)).status).toBe('ready');
  });

  it('twice, concurrently, enqueues one job and ends in one state', async () => {
    const png = makePng(12, 12);
    const { assetId, upload } = await createUpload('image/png', png.length);
    await putUpload(upload, png);
    const answers = await Promise.all([1, 2, 3].map(() => stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })));
    for (const a of answers) expect(a.status).toBe(202);
    const asset = await waitTerminal(stack, assetId);
    expect(asset.status).toBe('ready');
    const again = await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('ready');
    const queue = stack.apiCtx.queues.queues.finalizeUpload;
    const jobs = await queue.getJobs(['completed', 'active', 'waiting', 'delayed', 'failed']);
    expect(jobs.filter((j) => j.data.assetId === assetId)).toHaveLength(1);
  });
});

describe('delete', () => {
  it('removes the asset from the API at once and its object', async () => {
    const png = makePng(9, 9);
    const { assetId, upload } = await createUpload('image/png', png.length);
    await putUpload(upload, png);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    expect((await stack.call(`/v1/assets/${assetId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await stack.call(`/v1/assets/${assetId}`)).status).toBe(404);
    expect(await stack.services.bucket.store.head(asset.key)).toBeUndefined();
  });
});
