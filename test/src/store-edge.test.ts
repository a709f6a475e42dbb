/**
 * The store's edge (issue 17.6, 11.6), on the real S3 server: what a client holding a
 * pre-signed PUT URL can and cannot do to the object, and the bucket set-up that keeps
 * `staging/` private and short-lived.
 */
import { GetBucketLifecycleConfigurationCommand, GetPublicAccessBlockCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createApiContext } from '@rehost/api/context';
import { apiConfigSchema } from '@rehost/api/config';
import { parseEnv } from '@rehost/config';
import { LIFECYCLE_RULE_IDS, type ObjectStore } from '@rehost/storage';
import { createTestBucket, makePng, sha256 } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

const ALL_USERS = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"';

async function createUpload(bytes: Buffer) {
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bytes.length } });
  expect(res.status).toBe(201);
  return res.body as { assetId: string; upload: { url: string; headers: Record<string, string> } };
}

/** PUT through the URL with extra headers; status and the store's error code. */
async function putWith(upload: { url: string; headers: Record<string, string> }, bytes: Buffer, extra: Record<string, string>) {
  const headers: Record<string, string> = { ...upload.headers, ...extra };
  delete headers['Content-Length'];
  const res = await fetch(upload.url, { method: 'PUT', headers, body: bytes });
  const text = await res.text();
  return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] };
}

/** What an anonymous reader (the CDN, anyone) gets for `key`. */
const anonymousStatus = async (key: string) => {
  const res = await fetch(`${stack.services.env.PUBLIC_BASE_URL}/${key}`);
  await res.arrayBuffer();
  return res.status;
};

describe('a pre-signed PUT cannot change who can read the object', () => {
  it('signs x-amz-acl: private into the URL: a client asking for public-read is refused by the signature', async () => {
    const png = makePng(12, 12);
    const { assetId, upload } = await createUpload(png);
    expect(upload.headers['x-amz-acl']).toBe('private');
    expect(upload.url).toMatch(/X-Amz-SignedHeaders=[^&]*x-amz-acl/);
    expect(upload.url).not.toMatch(/[?&]x-amz-acl=/); // a signed header, not a query parameter a header could override

    for (const acl of ['public-read', 'public-read-write', 'authenticated-read']) {
      expect(await putWith(upload, png, { 'x-amz-acl': acl })).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    }
    // Without the signed header at all: refused too.
    const { 'x-amz-acl': _, ...withoutAcl } = upload.headers;
    expect((await putWith({ url: upload.url, headers: withoutAcl }, png, {})).status).toBe(403);
    expect(await stack.services.bucket.store.head(`staging/${assetId}`)).toBeUndefined();
  });

  it('refuses x-amz-grant-* headers, and the staging object is never anonymously readable', async () => {
    const png = makePng(13, 13);
    const { assetId, upload } = await createUpload(png);
    for (const grant of ['x-amz-grant-read', 'x-amz-grant-full-control', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp']) {
      const { status } = await putWith(upload, png, { [grant]: ALL_USERS });
      expect(status).toBeGreaterThanOrEqual(400);
      expect(await anonymousStatus(`staging/${assetId}`)).not.toBe(200);
    }
    // The honest PUT works, and its object is private.
    expect(await putUpload(upload, png)).toBe(200);
    expect(await anonymousStatus(`staging/${assetId}`)).toBe(403);
  });

  it('the bucket ignores public ACLs even on a PUT signed with one (PutPublicAccessBlock), and i/ stays public by policy', async () => {
    const store: ObjectStore = stack.services.bucket.store;
    const pab = await store.client.send(new GetPublicAccessBlockCommand({ Bucket: store.bucket }));
    expect(pab.PublicAccessBlockConfiguration).toMatchObject({ IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
    for (const ACL of ['public-read', 'public-read-write'] as const) {
      await store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: 'staging/acl-probe', Body: 'x', ContentType: 'image/png', ACL }));
      expect(await anonymousStatus('staging/acl-probe')).toBe(403);
    }
    await store.delete('staging/acl-probe');

    const png = makePng(14, 14);
    const { assetId, upload } = await createUpload(png);
    expect(await putUpload(upload, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
    const asset = await waitTerminal(stack, assetId);
    expect(asset.status).toBe('ready');
    expect(await anonymousStatus(asset.key)).toBe(200);
  });

  it('Content-Disposition and a website redirect sent with the PUT never reach the published object', async () => {
    const png = makePng(15, 15);
    const { assetId, upload } = await createUpload(png);
    const extra = { 'content-disposition': 'attachment; filename="evil.html"', 'x-amz-website-redirect-location': 'https://evil.example/' };
    // Not signed, so the store takes them onto the staging object...
    expect(await putWith(upload, png, extra)).toEqual({ status: 200, code: undefined });
    const store = stack.services.bucket.store;
    const staged = await store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: `staging/${assetId}` }));
    expect(staged.ContentDisposition).toBe(extra['content-disposition']);
    // ...but publishing copies the bytes with metadata of our own (MetadataDirective REPLACE).
    expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
    const asset = await waitTerminal(stack, assetId);
    expect(asset).toMatchObject({ status: 'ready', sha256: sha256(png) });
    const published = await store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: asset.key }));
    expect(published.ContentDisposition).toBeUndefined();
    expect(published.WebsiteRedirectLocation).toBeUndefined();
    expect(published.ContentType).toBe('image/png');
    const res = await fetch(asset.url);
    await res.arrayBuffer();
    expect(res.headers.get('content-disposition')).toBeNull();
    expect(res.headers.get('x-amz-website-redirect-location')).toBeNull();
  });
});

describe('bucket lifecycle (S3_ENSURE_BUCKET)', () => {
  it('expires staging/ objects after the URL lifetime plus a day and aborts multipart uploads unfinished after a day', async () => {
    const bucket = await createTestBucket();
    const ctx = await createApiContext(
      parseEnv(apiConfigSchema, {
        ...stack.services.env,
        S3_BUCKET: bucket.bucket,
        S3_ENSURE_BUCKET: 'true',
        UPLOAD_URL_TTL_SECONDS: String(3 * 24 * 3600 + 1),
      }),
    );
    try {
      const { Rules } = await bucket.store.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.bucket }));
      const byId = new Map((Rules ?? []).map((r) => [r.ID, r]));
      const staging = byId.get(LIFECYCLE_RULE_IDS.staging);
      expect(staging).toMatchObject({ Status: 'Enabled', Filter: { Prefix: 'staging/' }, Expiration: { Days: 5 } });
      const multipart = byId.get(LIFECYCLE_RULE_IDS.multipart);
      expect(multipart).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
      // The whole bucket: RGW reports an empty prefix as `Prefix`, AWS/R2 as `Filter.Prefix`.
      expect(multipart?.Filter?.Prefix ?? multipart?.Prefix).toBe('');
      expect(byId.size).toBe(2);
    } finally {
      await ctx.close();
      await bucket.cleanup();
    }
  });
});
