import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, makePngOfSize, sha256, startBotApiDouble } from '@rehost/testing';
import { waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
let other: BotApiDouble;
let n = 0;
const nextIds = () => {
  n++;
  return { fileId: `AgACAgIAAxkBAAI${n}file`, fileUniqueId: `AQAD${n}uniq` };
};

beforeAll(async () => {
  bot = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024 });
  other = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024 });
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      MAX_UPLOAD_BYTES: String(64 * 1024 * 1024),
      WORKER_CONCURRENCY: '4',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
  await other?.close();
});

const rehost = (source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...source }, ...extra } });

describe('Telegram rehost', () => {
  it('streams a 40 MB file through multipart upload; the bytes at the permanent URL are equal', async () => {
    const bytes = makePngOfSize(40 * 1024 * 1024);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    const res = await rehost({ fileId: ids.fileId });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('queued');
    const asset = await waitTerminal(stack, res.body.assetId, 60_000);
    expect(asset).toMatchObject({ status: 'ready', contentType: 'image/png', size: bytes.length, sha256: sha256(bytes) });
    expect(asset.source).toMatchObject({ type: 'telegram', fileId: ids.fileId, fileUniqueId: ids.fileUniqueId, bot: 'default' });
    const served = new Uint8Array(await (await fetch(asset.url)).arrayBuffer());
    expect(served.length).toBe(bytes.length);
    expect(sha256(served)).toBe(sha256(bytes));
    // Multipart really was used (40 MB > 5 MiB parts) and nothing is left dangling.
    expect(await stack.services.bucket.store.listMultipartUploads('')).toEqual([]);
  });

  it('answers a repeat request for a ready file with 200 at once: its own asset, the same bytes, no download', async () => {
    const bytes = makePng(30, 30);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    const first = await rehost(ids);
    const ready = await waitTerminal(stack, first.body.assetId);
    const downloads = bot.stats.downloadsByFileId.get(ids.fileId);
    const getFiles = bot.stats.getFile;
    const again = await rehost(ids);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'ready', url: ready.url, sha256: ready.sha256 });
    expect(again.body.assetId).not.toBe(first.body.assetId);
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(downloads);
    expect(bot.stats.getFile).toBe(getFiles);
  });

  it('8 concurrent requests for one file give one download and one URL', async () => {
    const bytes = makePng(50, 50);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    // Half name the fileUniqueId, half learn it from getFile: both paths dedupe.
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rehost(i % 2 ? ids : { fileId: ids.fileId })),
    );
    for (const a of answers) expect([200, 202]).toContain(a.status);
    const assets = await Promise.all([...new Set(answers.map((a) => a.body.assetId as string))].map((id) => waitTerminal(stack, id, 60_000)));
    expect(new Set(assets.map((a) => a.status))).toEqual(new Set(['ready']));
    expect(new Set(assets.map((a) => a.url)).size).toBe(1);
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(1);
    expect(await stack.services.bucket.store.listKeys('i/')).toContain(assets[0].key);
  });

  it('refuses an unknown bot name at the API', async () => {
    const res = await rehost({ fileId: 'x', bot: 'nope' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bot_not_configured');
  });

  it('fails at once, without retries, on an invalid file_id', async () => {
    const before = bot.stats.getFile;
    const res = await rehost({ fileId: 'not-a-real-file' });
    const asset = await waitTerminal(stack, res.body.assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'telegram_invalid_file' } });
    expect(bot.stats.getFile - before).toBe(1);
  });

  it('fails at once on "file is too big"', async () => {
    const big = await startBotApiDouble({ maxDownloadBytes: 1000 });
    const s = await startStack({ env: { TELEGRAM_BOT_TOKEN: big.token, TELEGRAM_API_BASE_URL: big.baseUrl } });
    try {
      const ids = nextIds();
      big.addFile({ ...ids, bytes: makePng(100, 100) });
      const res = await s.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: ids.fileId } } });
      const asset = await waitTerminal(s, res.body.assetId);
      expect(asset).toMatchObject({ status: 'failed', error: { code: 'telegram_file_too_big' } });
      expect(big.stats.getFile).toBe(1);
      expect(big.stats.downloads).toBe(0);
    } finally {
      await s.close();
      await big.close();
    }
  });

  it('honours 429 retry_after and 5xx, then succeeds', async () => {
    const bytes = makePng(20, 20);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    bot.failNext('getFile', 1, { status: 429, retryAfter: 1 });
    bot.failNext('download', 2, { status: 502 });
    const res = await rehost({ fileId: ids.fileId });
    const asset = await waitTerminal(stack, res.body.assetId, 60_000);
    expect(asset.status).toBe('ready');
    expect(asset.sha256).toBe(sha256(bytes));
  });

  it('calls getFile again when the file path has expired (404 on download)', async () => {
    const bytes = makePng(21, 21);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    bot.failNext('download', 1, { status: 404 });
    const before = bot.stats.getFile;
    const res = await rehost({ fileId: ids.fileId });
    const asset = await waitTerminal(stack, res.body.assetId, 60_000);
    expect(asset.status).toBe('ready');
    expect(bot.stats.getFile - before).toBeGreaterThanOrEqual(2);
  });

  it('a download cut off halfway is retried and nothing half-written is published', async () => {
    const bytes = makePng(300, 300);
    const ids = nextIds();
    bot.addFile({ ...ids, bytes });
    bot.failNext('download', 1, { cutAfterBytes: Math.floor(bytes.length / 2) });
    const res = await rehost({ fileId: ids.fileId });
    const asset = await waitTerminal(stack, res.body.assetId, 60_000);
    expect(asset.status).toBe('ready');
    expect(sha256(new Uint8Array(await (await fetch(asset.url)).arrayBuffer()))).toBe(sha256(bytes));
  });

  it('a non-image is cut off and fails not_an_image; nothing is stored', async () => {
    const ids = nextIds();
    bot.addFile({ ...ids, bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') });
    const res = await rehost({ fileId: ids.fileId });
    const asset = await waitTerminal(stack, res.body.assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'not_an_image' } });
    expect(await stack.services.bucket.store.listKeys(`i/${res.body.assetId}`)).toEqual([]);
  });

  it('an over-limit stream is cut off early and its multipart upload aborted', async () => {
    const s = await startStack({ env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl, MAX_UPLOAD_BYTES: String(6 * 1024 * 1024) } });
    try {
      const ids = nextIds();
      bot.addFile({ ...ids, bytes: makePngOfSize(20 * 1024 * 1024) });
      const res = await s.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: ids.fileId } } });
      const asset = await waitTerminal(s, res.body.assetId, 60_000);
      expect(asset).toMatchObject({ status: 'failed', error: { code: 'too_large' } });
      expect(await s.services.bucket.store.listMultipartUploads('')).toEqual([]);
      expect(await s.services.bucket.store.listKeys('i/')).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('several bots are configured by name; source.bot picks one', async () => {
    const s = await startStack({
      env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_BOTS: `second=${other.token}`, TELEGRAM_API_BASE_URL: other.baseUrl },
    });
    try {
      const ids = nextIds();
      other.addFile({ ...ids, bytes: makePng(5, 5) });
      const res = await s.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: ids.fileId, bot: 'second' } } });
      expect((await waitTerminal(s, res.body.assetId)).status).toBe('ready');
      expect(other.requests.some((r) => r.includes('getFile'))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('the bot token appears nowhere: not in job data, asset rows or stored errors', async () => {
    const ids = nextIds();
    bot.addFile({ ...ids, bytes: makePng(7, 7) });
    bot.failNext('download', 1, { status: 502 });
    const res = await rehost({ fileId: ids.fileId });
    await waitTerminal(stack, res.body.assetId, 60_000);
    const failed = await rehost({ fileId: 'missing-file-for-error' });
    await waitTerminal(stack, failed.body.assetId);

    const secret = bot.token.split(':')[1]!;
    const { rows } = await stack.services.db.query(`SELECT row_to_json(a)::text AS j FROM "${stack.services.db.schema}"."Asset" a`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.j).not.toContain(secret);

    const redis = stack.services.redis.redis;
    const keys = await redis.keys(`${stack.services.redis.prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const type = await redis.type(key);
      const dump =
        type === 'hash' ? JSON.stringify(await redis.hgetall(key))
        : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+'))
        : type === 'string' ? ((await redis.get(key)) ?? '')
        : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
        : type === 'zset' ? JSON.stringify(await redis.zrange(key, '0', '-1'))
        : type === 'set' ? JSON.stringify(await redis.smembers(key))
        : '';
      expect(dump).not.toContain(secret);
    }
  });
});
