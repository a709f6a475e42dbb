/**
 * Baseline for rehost_stream and memory: a download (got) piped into a lib-storage Upload with
 * the part size and queue size our worker uses, through one pass-through stage that takes the
 * SHA-256 of the bytes (the asset's `sha256`, which any rehost must compute), and nothing else.
 * One request per line: `{ url, key }` → `{ ms, sha256 }`.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { got } from '../deps/got.js';
import { Upload } from '../deps/s3.js';
import { serveRequests } from './protocol.js';
import { bareS3Client, bucket } from './s3-client.js';

const client = bareS3Client();
const partSize = Number(process.env.S3_PART_SIZE_BYTES);
const queueSize = Number(process.env.S3_QUEUE_SIZE);

await serveRequests(async ({ url, key }: { url: string; key: string }) => {
  const t0 = performance.now();
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const source = got.stream(url);
  source.on('error', (err) => hashing.destroy(err));
  const upload = new Upload({ client, partSize, queueSize, params: { Bucket: bucket(), Key: key, Body: source.pipe(hashing), ContentType: 'image/png' } });
  await upload.done();
  return { ms: performance.now() - t0, sha256: hash.digest('hex') };
});
