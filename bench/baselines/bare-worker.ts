/**
 * Baseline for e2e_small: a bare BullMQ worker that does what a Telegram rehost minimally must —
 * `getFile` on the Bot API (the double) for the file's path, GET the file (100 KB), SHA-256 of its
 * bytes (the asset's `sha256`), `PutObject`, one `UPDATE` of the asset row — with the concurrency
 * our worker uses. Jobs carry `{ assetId, fileId, key }`. With BARE_ANALYZE=true it also computes
 * the image facts of the bytes it holds (bare-analysis.ts) and writes them in the same UPDATE.
 */
import { createHash } from 'node:crypto';
import { Worker } from '../deps/bullmq.js';
import { Redis } from '../deps/ioredis.js';
import { pg } from '../deps/pg.js';
import { s3 } from '../deps/s3.js';
import { bareFacts } from './bare-analysis.js';
import { serveRequests } from './protocol.js';
import { bareS3Client, bucket } from './s3-client.js';

const env = process.env;
const concurrency = Number(env.WORKER_CONCURRENCY);
const client = bareS3Client();
const db = new URL(env.DATABASE_URL!);
const schema = db.searchParams.get('schema')!;
db.searchParams.delete('schema');
const pool = new pg.Pool({ connectionString: db.toString(), max: concurrency + 2, options: `-c search_path=${schema}` });
const botApi = `${env.TELEGRAM_API_BASE_URL}/bot${env.TELEGRAM_BOT_TOKEN}`;
const analyze = env.BARE_ANALYZE === 'true';
const MAX_PIXELS = Number(env.MAX_IMAGE_PIXELS ?? 100_000_000);
const fileApi = `${env.TELEGRAM_API_BASE_URL}/file/bot${env.TELEGRAM_BOT_TOKEN}`;

const worker = new Worker(
  env.BARE_QUEUE!,
  async (job) => {
    const { assetId, fileId, key } = job.data as { assetId: string; fileId: string; key: string };
    const meta = await fetch(`${botApi}/getFile?file_id=${encodeURIComponent(fileId)}`);
    const { result } = (await meta.json()) as { result: { file_path: string } };
    const res = await fetch(`${fileApi}/${result.file_path}`);
    if (!res.ok) throw new Error(`GET answered ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    const sha256 = createHash('sha256').update(body).digest('hex');
    await client.send(new s3.PutObjectCommand({ Bucket: bucket(), Key: key, Body: body, ContentType: 'image/png' }));
    if (analyze) {
      const facts = await bareFacts(body, MAX_PIXELS);
      await pool.query({
        name: 'bare-ready-analyzed',
        text: `UPDATE "Asset" SET status = 'ready', key = $2, size = $3, sha256 = $4, placeholder = $5, "dominantColor" = $6, phash = $7,
                 "readyAt" = now(), "analyzedAt" = now(), "updatedAt" = now() WHERE id = $1`,
        values: [assetId, key, body.length, sha256, facts.placeholder, facts.dominantColor, facts.phash],
      });
      return;
    }
    await pool.query({
      name: 'bare-ready',
      text: `UPDATE "Asset" SET status = 'ready', key = $2, size = $3, sha256 = $4, "readyAt" = now(), "updatedAt" = now() WHERE id = $1`,
      values: [assetId, key, body.length, sha256],
    });
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
