/**
 * Baseline for finalize: what verifying an upload minimally costs — HeadObject, GetObject read to
 * the end, one UPDATE of the asset row — looped over the staged objects with the concurrency our
 * worker uses. One request per line: `{ items: [{ assetId, key }] }` → `{ ms }`.
 */
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

async function verifyOne(assetId: string, key: string): Promise<void> {
  const head = await client.send(new s3.HeadObjectCommand({ Bucket: bucket(), Key: key }));
  const got = await client.send(new s3.GetObjectCommand({ Bucket: bucket(), Key: key, IfMatch: head.ETag }));
  let size = 0;
  for await (const chunk of got.Body as AsyncIterable<Buffer>) size += chunk.length;
  await pool.query(`UPDATE "Asset" SET size = $2, "updatedAt" = now() WHERE id = $1`, [assetId, size]);
}

await serveRequests(async ({ items }: { items: { assetId: string; key: string }[] }) => {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await verifyOne(item.assetId, item.key);
      }
    }),
  );
  return { ms: performance.now() - t0 };
});
await pool.end();
