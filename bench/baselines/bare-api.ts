/**
 * Baseline for api_enqueue's latency at half load: a bare HTTP server doing what accepting a
 * rehost inherently takes — parse the JSON body, one prepared `INSERT` of the asset row (plain
 * `pg`, committed before answering, as ours), an awaited `queue.add`, a 202 with the asset id.
 * No auth, validation, dedupe, back-pressure or logging. The paced client times it exactly as it
 * times our API, in alternating windows, so both see the same machine (and the same disk: every
 * request waits for its commit's WAL flush).
 */
import http from 'node:http';
import { Queue } from '../deps/bullmq.js';
import { Redis } from '../deps/ioredis.js';
import { pg } from '../deps/pg.js';
import { serveRequests } from './protocol.js';

const env = process.env;
const db = new URL(env.DATABASE_URL!);
const schema = db.searchParams.get('schema')!;
db.searchParams.delete('schema');
const pool = new pg.Pool({ connectionString: db.toString(), max: 10, options: `-c search_path=${schema}` });
const redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });
const queue = new Queue('bare-api', { connection: redis, prefix: env.QUEUE_PREFIX });
const insert =
  `INSERT INTO "Asset" (id, status, "sourceType", "telegramFileId", "telegramFileUniqueId", "telegramBot", "dedupeKey", "updatedAt") ` +
  `VALUES ($1, 'queued', 'telegram', $2, $3, $4, $5, now())`;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      try {
        const { source } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { source: { fileId: string; fileUniqueId: string; bot: string } };
        const assetId = crypto.randomUUID();
        await pool.query({ name: 'bare-api-insert', text: insert, values: [assetId, source.fileId, source.fileUniqueId, source.bot, `tg:${source.fileUniqueId}`] });
        await queue.add('rehost', { assetId, source });
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ assetId, status: 'queued' }));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    })();
  });
});
// Fastify's keep-alive timeout (72 s), which our API runs with, instead of Node's 5 s: an idle
// kept-alive socket that the server closes just as the paced client reuses it ends in ECONNRESET
// (seen once after a 10 s window of ours had left the bare server's sockets idle).
server.keepAliveTimeout = 72_000;
await new Promise<void>((resolve) => server.listen(Number(env.BARE_API_PORT), '127.0.0.1', resolve));
await serveRequests(async () => ({}));
