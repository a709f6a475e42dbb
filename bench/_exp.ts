import { randomUUID } from 'node:crypto';
import { got, Upload } from './deps.js';
import { imageServer, MB } from './lib.js';
import { createTestBucket } from '../packages/testing/src/index.js';
import { safeGetStream } from '../packages/safe-fetch/src/index.js';
import { verifyImageStream } from '../apps/worker/src/pipeline/verify-image.js';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';

const images = await imageServer();
const img = await images.add(200 * MB);
const b = await createTestBucket({ partSize: 8 * 1024 * 1024, queueSize: 4 });
const mode = process.argv[2]!;
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
async function once() {
  const key = `x/${randomUUID()}`;
  if (mode === 'got-upload') {
    await new Upload({ client: b.store.client, partSize: 8 << 20, queueSize: 4, params: { Bucket: b.bucket, Key: key, Body: got.stream(img.url) } }).done();
  } else if (mode === 'safe-upload') {
    const { stream } = await safeGetStream(img.url, { allowedHosts: ['127.0.0.1'], trustedPrivateHosts: ['127.0.0.1'], maxBytes: 2 ** 31 });
    await new Upload({ client: b.store.client, partSize: 8 << 20, queueSize: 4, params: { Bucket: b.bucket, Key: key, Body: stream } }).done();
  } else if (mode === 'verify-upload') {
    const { stream } = await safeGetStream(img.url, { allowedHosts: ['127.0.0.1'], trustedPrivateHosts: ['127.0.0.1'], maxBytes: 2 ** 31 });
    const v = await verifyImageStream(stream, { maxBytes: 2 ** 31, maxPixels: 2 ** 31 });
    await Promise.all([new Upload({ client: b.store.client, partSize: 8 << 20, queueSize: 4, params: { Bucket: b.bucket, Key: key, Body: v.body } }).done(), v.done]);
  } else if (mode === 'got-sink') {
    await pipeline(got.stream(img.url), sink());
  } else if (mode === 'safe-sink') {
    const { stream } = await safeGetStream(img.url, { allowedHosts: ['127.0.0.1'], trustedPrivateHosts: ['127.0.0.1'], maxBytes: 2 ** 31 });
    await pipeline(stream, sink());
  } else if (mode === 'verify-sink') {
    const { stream } = await safeGetStream(img.url, { allowedHosts: ['127.0.0.1'], trustedPrivateHosts: ['127.0.0.1'], maxBytes: 2 ** 31 });
    const v = await verifyImageStream(stream, { maxBytes: 2 ** 31, maxPixels: 2 ** 31 });
    await Promise.all([pipeline(v.body, sink()), v.done]);
  } else if (mode === 'hash-sink') {
    const h = createHash('sha256');
    await pipeline(got.stream(img.url), new Writable({ write(c, _e, cb) { h.update(c); cb(); } }));
  }
  await b.store.delete(key).catch(() => {});
}
await once();
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < 3; i++) await once();
const c = process.cpuUsage(c0);
console.log(mode, 'cpu ms/MB', ((c.user + c.system) / 1000 / (3 * img.bytes / MB)).toFixed(2), 'MB/s', (3 * img.bytes / MB / ((performance.now() - t0) / 1000)).toFixed(0));
await images.close(); await b.cleanup(); process.exit(0);
