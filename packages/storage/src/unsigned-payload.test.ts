import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ObjectStore, type ObjectStoreConfig } from './object-store.js';

// A stand-in S3 endpoint that records the payload-hash header of each request and says 200.
const seen: (string | undefined)[] = [];
let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers['x-amz-content-sha256'] as string | undefined);
    req.resume();
    req.on('end', () => res.writeHead(200, { etag: '"x"' }).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const config = (over: Partial<ObjectStoreConfig>): ObjectStoreConfig => ({
  endpoint,
  region: 'auto',
  bucket: 'b',
  accessKeyId: 'AKIDEXAMPLEEXAMPLE00',
  secretAccessKey: 'secretsecretsecretsecretsecretsecret0000',
  forcePathStyle: true,
  partSize: 5 * 1024 * 1024,
  queueSize: 1,
  ...over,
});

const hasMiddleware = (store: ObjectStore) => store.client.middlewareStack.identify().some((m) => m.startsWith('rehostUnsignedPayload'));

describe('UNSIGNED-PAYLOAD for object and part uploads', () => {
  it('is on for https endpoints and the default endpoint, off for http', () => {
    expect(hasMiddleware(new ObjectStore(config({ endpoint: 'https://acct.r2.cloudflarestorage.com' })))).toBe(true);
    expect(hasMiddleware(new ObjectStore(config({ endpoint: undefined })))).toBe(true);
    expect(hasMiddleware(new ObjectStore(config({})))).toBe(false);
  });

  it('signs an upload without hashing its body when on, with the body hash when off', async () => {
    seen.length = 0;
    await new ObjectStore(config({ unsignedPayload: true })).put('k', Buffer.from('hello'), 'text/plain');
    await new ObjectStore(config({})).put('k', Buffer.from('hello'), 'text/plain');
    expect(seen[0]).toBe('UNSIGNED-PAYLOAD');
    // SHA-256 of "hello"
    expect(seen[1]).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  });

  it('leaves pre-signed PUT URLs as they were', async () => {
    const on = await new ObjectStore(config({ unsignedPayload: true })).presignPut('k', 'image/png', 10, 60);
    const off = await new ObjectStore(config({})).presignPut('k', 'image/png', 10, 60);
    const params = (u: string) => [...new URL(u).searchParams.keys()].sort();
    expect(params(on.url)).toEqual(params(off.url));
    expect(new URL(on.url).searchParams.get('X-Amz-SignedHeaders')).toBe(new URL(off.url).searchParams.get('X-Amz-SignedHeaders'));
  });
});
