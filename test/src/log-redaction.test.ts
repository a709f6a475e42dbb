/**
 * Every log line of a full run at LOG_LEVEL=debug — an upload (pre-signed URL issued, PUT,
 * finalize), Telegram rehosts (one through retries), and refused requests (one naming a
 * pre-signed URL) — captured and checked: no secret appears anywhere, every request's
 * lines carry reqId, every job line carries queue, jobId and assetId.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

type Line = Record<string, any>;

const raw: string[] = [];
const lines = (): Line[] => raw.map((l) => JSON.parse(l) as Line);
const show = (ls: Line[]) => ls.map((l) => JSON.stringify(l)).join('\n');

let stack: Stack;
let bot: BotApiDouble;
let s3Secret: string;
let logger: ReturnType<typeof createLogger>;
const WRONG_TOKEN = 'wrong-bearer-token-4f1c9e';
/** Every pre-signed URL the run handed out or used; their signatures must not show up. */
const signatures: string[] = [];
const assetIds: string[] = [];
let idempotentAssetId: string | undefined;
const requestIds: string[] = [];

/** Ids we send as x-request-id, so a request's lines can be found again. */
const rid = (name: string) => {
  const id = `redaction-${name}-${requestIds.length}`;
  requestIds.push(id);
  return { 'x-request-id': id };
};

function signatureOf(url: string): string {
  const sig = new URL(url).searchParams.get('X-Amz-Signature');
  if (!sig) throw new Error('expected a pre-signed URL');
  return sig;
}

beforeAll(async () => {
  logger = createLogger({ name: 'rehost', level: 'debug', destination: { write: (s: string) => void raw.push(s) } });
  bot = await startBotApiDouble();
  stack = await startStack({
    logger,
    env: {
      LOG_LEVEL: 'debug',
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
    },
  });
  s3Secret = stack.services.env.S3_SECRET_ACCESS_KEY!;

  // 1. Upload: the API issues a pre-signed PUT URL; the browser PUTs; finalize verifies.
  const png = makePng(32, 32);
  const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length }, headers: rid('upload') });
  expect(created.status).toBe(201);
  signatures.push(signatureOf(created.body.upload.url));
  expect(await putUpload(created.body.upload, png)).toBe(200);
  expect((await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST', headers: rid('complete') })).status).toBe(202);
  assetIds.push(created.body.assetId);

  // 2. Telegram rehost, straight through.
  bot.addFile({ fileId: 'redaction-file-1', fileUniqueId: 'redaction-uniq-1', bytes: makePng(20, 20) });
  const tg = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'redaction-file-1' } }, headers: rid('rehost') });
  expect(tg.status).toBe(202);
  assetIds.push(tg.body.assetId);
  expect((await waitTerminal(stack, tg.body.assetId)).status).toBe('ready'); // before the faults below

  // 2b. A retry with the same idempotency key: answered with the first request's (ready) asset.
  const idem = { source: { type: 'telegram', fileId: 'redaction-file-1' }, idempotencyKey: 'redaction-idem' };
  const firstTry = await stack.call('/v1/rehost', { method: 'POST', json: idem, headers: rid('idem-first') });
  expect((await waitTerminal(stack, firstTry.body.assetId)).status).toBe('ready');
  const retried = await stack.call('/v1/rehost', { method: 'POST', json: idem, headers: rid('idem-retry') });
  expect(retried.body.assetId).toBe(firstTry.body.assetId);
  idempotentAssetId = firstTry.body.assetId;

  // 3. Telegram rehost through failures: getFile answers 500 until the client's own retries are
  //    spent (1 + 3 attempts), so the job fails once (error logged) and BullMQ runs it again.
  bot.addFile({ fileId: 'redaction-file-2', fileUniqueId: 'redaction-uniq-2', bytes: makePng(21, 21) });
  bot.failNext('getFile', 4, { status: 500 });
  const tg2 = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'redaction-file-2' } }, headers: rid('rehost-retry') });
  expect(tg2.status).toBe(202);
  assetIds.push(tg2.body.assetId);

  // 4. A url source that is a pre-signed GET URL of a (trusted) local host, rehosted end to end:
  //    the API, the worker's fetch and their log lines must not carry the signature.
  const store = stack.services.bucket.store;
  await store.put('sources/src.png', makePng(22, 22), 'image/png');
  const signedGet = await getSignedUrl(store.client, new GetObjectCommand({ Bucket: store.bucket, Key: 'sources/src.png' }), { expiresIn: 600 });
  signatures.push(signatureOf(signedGet));
  const byUrl = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: signedGet } }, headers: rid('rehost-url') });
  expect(byUrl.status).toBe(202);
  assetIds.push(byUrl.body.assetId);

  // 5. Refused: a wrong bearer token.
  const refused = await stack.call('/v1/assets/00000000-0000-4000-8000-000000000000', { headers: { authorization: `Bearer ${WRONG_TOKEN}`, ...rid('refused') } });
  expect(refused.status).toBe(401);

  const finals = await Promise.all(assetIds.map((id) => waitTerminal(stack, id, 60_000)));
  expect(finals.map((a) => a.status)).toEqual(['ready', 'ready', 'ready', 'ready']);
}, 120_000);

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, raw.join(''));
  await stack?.close();
  await bot?.close();
});

describe('log lines of a full run at debug level', () => {
  it('were captured, as JSON, from both the API and the workers (including the retried job)', () => {
    const all = lines();
    expect(all.filter((l) => l.app === 'api').length).toBeGreaterThan(10);
    expect(all.filter((l) => l.app === 'worker').length).toBeGreaterThan(3);
    expect(logger.isLevelEnabled('debug')).toBe(true);
    // The retry path ran, so its error logging is covered too.
    expect(all.some((l) => l.app === 'worker' && l.assetId === assetIds[2] && /retr/i.test(l.msg))).toBe(true);
  });

  it('contain no bot token, API bearer token, S3 secret key or pre-signed signature', () => {
    const text = raw.join('');
    const secrets: [string, string][] = [
      ['bot token', bot.token],
      ['bot token secret part', bot.token.split(':')[1]!],
      ['API bearer token', stack.token],
      ['wrong bearer token', WRONG_TOKEN],
      ['S3 secret key', s3Secret],
      ...signatures.map((s, i): [string, string] => [`signature ${i}`, s]),
    ];
    for (const [what, secret] of secrets) {
      const hits = raw.filter((l) => l.includes(secret));
      expect({ what, hits }).toEqual({ what, hits: [] });
    }
    // No signature value of any kind, even of URLs this test did not see.
    expect(raw.filter((l) => /X-Amz-Signature=(?!\[REDACTED\])/i.test(l))).toEqual([]);
    expect(text).not.toMatch(/Bearer (?!\[REDACTED\])\S/);
  });

  it('every API line carries reqId; each request we sent is traceable by it', () => {
    const api = lines().filter((l) => l.app === 'api');
    // Process-level lines (start-up, listening) belong to no request.
    const processLevel = /^Server listening at/;
    const orphans = api.filter((l) => !l.reqId && !processLevel.test(l.msg));
    expect(show(orphans)).toBe('');
    for (const id of requestIds) {
      const mine = api.filter((l) => l.reqId === id);
      expect({ id, msgs: mine.map((l) => l.msg) }).toEqual({ id, msgs: expect.arrayContaining(['incoming request', 'request completed']) });
    }
  });

  it("a rehost's one access line names the asset it created (no second line of the route's own)", () => {
    const mine = lines().filter((l) => l.app === 'api' && /^redaction-rehost-\d+$/.test(String(l.reqId)) && l.level >= 30);
    expect(mine.map((l) => ({ msg: l.msg, assetId: l.assetId, sourceType: l.sourceType }))).toEqual([
      { msg: 'request completed', assetId: assetIds[1], sourceType: 'telegram' },
    ]);
  });

  it("a retry's access line names the asset it was answered with", () => {
    const mine = lines().filter((l) => l.app === 'api' && /^redaction-idem-retry-\d+$/.test(String(l.reqId)) && l.level >= 30);
    expect(idempotentAssetId).toBeDefined();
    expect(mine.map((l) => ({ msg: l.msg, assetId: l.assetId, idempotentRetry: l.idempotentRetry }))).toEqual([
      { msg: 'request completed', assetId: idempotentAssetId, idempotentRetry: true },
    ]);
  });

  it('every worker line carries queue, jobId and assetId', () => {
    const worker = lines().filter((l) => l.app === 'worker');
    const orphans = worker.filter((l) => !(l.queue && l.jobId && l.assetId));
    expect(show(orphans)).toBe('');
    // And each asset's job left lines under its own id.
    for (const id of assetIds) expect(worker.some((l) => l.assetId === id)).toBe(true);
  });
});
