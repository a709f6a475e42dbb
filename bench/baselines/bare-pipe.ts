/**
 * Baseline for rehost_stream and memory: a download (got) piped straight into a lib-storage
 * Upload with the part size and queue size our worker uses, and nothing else.
 * One request per line: `{ url, key }` → `{ ms }`.
 */
import { got } from '../deps/got.js';
import { Upload } from '../deps/s3.js';
import { serveRequests } from './protocol.js';
import { bareS3Client, bucket } from './s3-client.js';

const client = bareS3Client();
const partSize = Number(process.env.S3_PART_SIZE_BYTES);
const queueSize = Number(process.env.S3_QUEUE_SIZE);

await serveRequests(async ({ url, key }: { url: string; key: string }) => {
  const t0 = performance.now();
  const upload = new Upload({ client, partSize, queueSize, params: { Bucket: bucket(), Key: key, Body: got.stream(url), ContentType: 'image/png' } });
  await upload.done();
  return { ms: performance.now() - t0 };
});
