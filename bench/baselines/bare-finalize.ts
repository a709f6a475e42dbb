/**
 * Baseline for finalize: what publishing a staged upload minimally costs — `HeadObject`,
 * `GetObject` read to the end with SHA-256 of the bytes (the asset's `sha256`), `CopyObject` to
 * the public key (If-Match the ETag read), `DeleteObject` of the staging key, one `UPDATE` of the
 * asset row — looped over the staged objects with the concurrency our worker uses.
 * One request per line: `{ items: [{ assetId, key, publicKey }] }` → `{ ms }`.
 */
import { createHash } from 'node:crypto';
import { pg } from '../deps/pg.js';
import { s3 } from '../deps/s3.js';
import { serveRequests } from './protocol.js';
import { bareS3Client, bucket } from './s3-client.js';

const env = process.env;
const concurrency = Number(env.WORKER_CONCURRENCY);
const client = bareS3Client();
const db = new URL(env.DATABASE_URL!);
const schema = db.searchParams.get('schema')!;
db.searchParams.delete('schema');
const pool = new pg.Pool({ connectionString: db.toString(), max: concurrency + 2, options: `-c search_path=${schema}` });

async function publishOne(assetId: string, key: string, publicKey: string): Promise<void> {
  const head = await client.send(new s3.HeadObjectCommand({ Bucket: bucket(), Key: key }));
  const got = await client.send(new s3.GetObjectCommand({ Bucket: bucket(), Key: key, IfMatch: head.ETag }));
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of got.Body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  await client.send(
    new s3.CopyObjectCommand({
      Bucket: bucket(),
      Key: publicKey,
      CopySource: `${bucket()}/${key}`,
      CopySourceIfMatch: head.ETag,
      MetadataDirective: 'REPLACE',
      ContentType: 'image/png',
    }),
  );
  await client.send(new s3.DeleteObjectCommand({ Bucket: bucket(), Key: key }));
  await pool.query({
    name: 'bare-published',
    text: `UPDATE "Asset" SET status = 'ready', key = $2, size = $3, sha256 = $4, "readyAt" = now(), "updatedAt" = now() WHERE id = $1`,
    values: [assetId, publicKey, size, hash.digest('hex')],
  });
}

await serveRequests(async ({ items }: { items: { assetId: string; key: string; publicKey: string }[] }) => {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await publishOne(item.assetId, item.key, item.publicKey);
      }
    }),
  );
  return { ms: performance.now() - t0 };
});
await pool.end();
