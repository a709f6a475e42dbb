/**
 * Baseline for e2e_small: a bare BullMQ worker that does what a rehost minimally must — GET the
 * file (100 KB from the Bot API double), PutObject it, one UPDATE of the asset row — with the
 * concurrency our worker uses. Jobs carry `{ assetId, url, key }`.
 */
import { Worker } from '../deps/bullmq.js';
import { Redis } from '../deps/ioredis.js';
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

const worker = new Worker(
  env.BARE_QUEUE!,
  async (job) => {
    const { assetId, url, key } = job.data as { assetId: string; url: string; key: string };
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET answered ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    await client.send(new s3.PutObjectCommand({ Bucket: bucket(), Key: key, Body: body, ContentType: 'image/png' }));
    await pool.query(`UPDATE "Asset" SET status = 'ready', key = $2, size = $3, "readyAt" = now(), "updatedAt" = now() WHERE id = $1`, [
      assetId,
      key,
      body.length,
    ]);
  },
  { connection: new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null }), prefix: env.QUEUE_PREFIX!, concurrency },
);
await worker.waitUntilReady();

process.on('SIGTERM', () => {
  void worker.close().then(async () => {
    await pool.end();
    process.exit(0);
  });
});
await serveRequests(async () => ({}));
