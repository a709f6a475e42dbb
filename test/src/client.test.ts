import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AssetFailedError, RehostApiError, RehostClient, WaitTimeoutError } from '@rehost/client';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { putUpload } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let double: BotApiDouble;
let client: RehostClient;

beforeAll(async () => {
  double = await startBotApiDouble();
  double.addFile({ fileId: 'cl-photo', fileUniqueId: 'cl-uniq', bytes: makePng(40, 30) });
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: double.token, TELEGRAM_API_BASE_URL: double.baseUrl } });
  client = new RehostClient({ baseUrl: stack.baseUrl, token: stack.token });
});
afterAll(async () => {
  await stack?.close();
  await double?.close();
});

describe('@rehost/client against the real API', () => {
  it('rehostTelegramFile with wait: true resolves with the ready asset', async () => {
    const asset = await client.rehostTelegramFile('cl-photo', { ownerId: 'bot-7', wait: true, timeoutMs: 30_000 });
    expect(asset).toMatchObject({ status: 'ready', width: 40, height: 30, contentType: 'image/png', ownerId: 'bot-7' });
    expect(asset.url).toBe(`${stack.services.env.PUBLIC_BASE_URL}/${asset.key}`);
    expect((await fetch(asset.url!)).status).toBe(200);
  });

  it('with wait: true rejects with AssetFailedError carrying the asset error code', async () => {
    const err = await client.rehostTelegramFile('does-not-exist', { wait: true, timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetFailedError);
    const failed = err as AssetFailedError;
    expect(failed.code).toBe('telegram_invalid_file');
    expect(failed.asset).toMatchObject({ id: failed.assetId, status: 'failed', error: { code: 'telegram_invalid_file' } });
    expect((await client.getAsset(failed.assetId)).status).toBe('failed');
  });

  it('waitForAsset times out with WaitTimeoutError while the asset is not terminal', async () => {
    const png = makePng(8, 8);
    const { assetId } = await client.createUpload({ contentType: 'image/png', size: png.length });
    const started = Date.now();
    const err = await client.waitForAsset(assetId, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err).toMatchObject({ code: 'wait_timeout', assetId, lastStatus: 'pending_upload' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('drives a direct upload: createUpload, PUT, completeUpload, waitForAsset', async () => {
    const png = makePng(12, 9);
    const { assetId, upload } = await client.createUpload({ contentType: 'image/png', size: png.length, filename: 'a.png' });
    expect(await putUpload(upload, png)).toBe(200);
    expect(await client.completeUpload(assetId)).toEqual({ assetId, status: 'processing' });
    const asset = await client.waitForAsset(assetId, { timeoutMs: 30_000 });
    expect(asset).toMatchObject({ id: assetId, status: 'ready', width: 12, height: 9 });

    await client.deleteAsset(assetId);
    const gone = await client.getAsset(assetId).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(RehostApiError);
    expect(gone).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('a failed upload rejects waitForAsset with the verification code', async () => {
    const html = Buffer.from('<html>not an image</html>');
    const { assetId, upload } = await client.createUpload({ contentType: 'image/png', size: html.length });
    await putUpload(upload, html);
    await client.completeUpload(assetId);
    await expect(client.waitForAsset(assetId, { timeoutMs: 30_000 })).rejects.toMatchObject({ name: 'AssetFailedError', code: 'not_an_image' });
  });

  it('the same idempotency key names one asset, however often it is sent', async () => {
    const key = `idem-${Date.now()}`;
    const answers = await Promise.all([1, 2, 3].map(() => client.rehostTelegramFile('cl-photo', { idempotencyKey: key })));
    expect(new Set(answers.map((a) => a.assetId)).size).toBe(1);
    const { rows } = await stack.services.db.query('SELECT count(*)::int AS n FROM "Asset" WHERE "idempotencyKey" LIKE $1', [`%:${key}`]);
    expect(rows[0]!.n).toBe(1);
  });

  it('maps API errors to RehostApiError with the code, without retrying 4xx', async () => {
    const bad = new RehostClient({ baseUrl: stack.baseUrl, token: 'wrong-token' });
    await expect(bad.getAsset('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(client.rehostTelegramFile('x', { bot: 'nobody' })).rejects.toMatchObject({ status: 400, code: 'bot_not_configured' });
  });
});
