import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { AppError } from '@rehost/jobs';
import { type BotApiDouble, startBotApiDouble } from '@rehost/testing';
import { type BotApiOptions, TelegramBotApi } from './bot-api.js';

const photo = randomBytes(100 * 1024);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Every way an error gets written down must be free of the token and its secret. */
function expectNoToken(err: unknown, token: string): void {
  const secret = token.split(':')[1]!;
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect(e.cause).toBeUndefined();
  for (const text of [e.message, String(e), JSON.stringify(e), e.stack ?? '', inspect(e, { depth: 10, showHidden: true })]) {
    expect(text).not.toContain(token);
    expect(text).not.toContain(secret);
  }
}

describe('TelegramBotApi', () => {
  let double: BotApiDouble;
  let apiErrors: Array<[string, number]>;

  const client = (opts: Partial<BotApiOptions> = {}) =>
    new TelegramBotApi({
      baseUrl: double.baseUrl,
      token: double.token,
      name: 'default',
      retryBaseDelayMs: 1,
      onApiError: (method, code) => apiErrors.push([method, code]),
      ...opts,
    });

  beforeEach(async () => {
    double = await startBotApiDouble();
    double.addFile({ fileId: 'photo-1', fileUniqueId: 'uniq-1', bytes: photo });
    apiErrors = [];
  });
  afterEach(() => double.close());

  describe('getFile', () => {
    it('returns the file', async () => {
      const file = await client().getFile('photo-1');
      expect(file).toEqual({
        fileId: 'photo-1',
        fileUniqueId: 'uniq-1',
        fileSize: photo.length,
        filePath: expect.stringMatching(/^photos\/file_\d+\.jpg$/),
      });
      expect(double.requests).toEqual(['POST /bot<token>/getFile']);
    });

    it('fails permanently, without retrying, on an unknown file_id', async () => {
      const err = await rejection(client().getFile('nope'));
      expect(err).toMatchObject({ code: 'telegram_invalid_file', permanent: true });
      expect((err as Error).message).toContain('invalid file_id');
      expect(double.stats.getFile).toBe(1);
      expect(apiErrors).toEqual([['getFile', 400]]);
      expectNoToken(err, double.token);
    });

    it('fails permanently, without retrying, on a file over 20 MB', async () => {
      double.addFile({ fileId: 'huge', fileUniqueId: 'uniq-huge', size: 21 * 1024 * 1024 });
      const err = await rejection(client().getFile('huge'));
      expect(err).toMatchObject({ code: 'telegram_file_too_big', permanent: true });
      expect(double.stats.getFile).toBe(1);
      expectNoToken(err, double.token);
    });

    it('fails permanently on a rejected token (401), naming the bot but not the token', async () => {
      const wrong = '555555555:AAwrongwrongwrongwrongwrongwrongwro';
      const err = await rejection(client({ token: wrong, name: 'support' }).getFile('photo-1'));
      expect(err).toMatchObject({ code: 'bot_not_configured', permanent: true });
      expect((err as Error).message).toContain('"support"');
      expect((err as Error).message).toContain('401');
      expect(double.stats.getFile).toBe(0);
      expect(double.requests).toEqual(['POST /bot<invalid-token>/getFile']);
      expectNoToken(err, wrong);
    });

    it('treats a 404 on the method (malformed token) as a configuration error', async () => {
      double.failNext('getFile', 1, { status: 404 });
      const err = await rejection(client().getFile('photo-1'));
      expect(err).toMatchObject({ code: 'bot_not_configured', permanent: true });
      expect(double.stats.getFile).toBe(1);
    });

    it('retries 5xx with backoff inside the call', async () => {
      double.failNext('getFile', 1, { status: 500 });
      double.failNext('getFile', 1, { status: 502 });
      double.failNext('getFile', 1, { status: 503 });
      const file = await client({ retries: 3 }).getFile('photo-1');
      expect(file.fileId).toBe('photo-1');
      expect(double.stats.getFile).toBe(4);
      expect(apiErrors).toEqual([
        ['getFile', 500],
        ['getFile', 502],
        ['getFile', 503],
      ]);
    });

    it('gives up after the bounded retries with a transient telegram_unavailable', async () => {
      double.failNext('getFile', 10, { status: 502 });
      const err = await rejection(client({ retries: 2 }).getFile('photo-1'));
      expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: false });
      expect((err as Error).message).toMatch(/502.*\(3 attempts\)/);
      expect(double.stats.getFile).toBe(3);
      expectNoToken(err, double.token);
    });

    it('retries a body cut short, then succeeds', async () => {
      double.failNext('getFile', 1, { cutAfterBytes: 10 });
      await expect(client().getFile('photo-1')).resolves.toMatchObject({ fileId: 'photo-1' });
      expect(double.stats.getFile).toBe(2);
    });

    it('waits out a short 429 retry_after inside the call', async () => {
      double.failNext('getFile', 1, { status: 429, retryAfter: 1 });
      const started = performance.now();
      const file = await client({ maxRetryAfterSeconds: 2 }).getFile('photo-1');
      expect(file.fileId).toBe('photo-1');
      expect(double.stats.getFile).toBe(2);
      // Backoff alone would have retried after ~1 ms.
      expect(performance.now() - started).toBeGreaterThanOrEqual(990);
      expect(apiErrors).toEqual([['getFile', 429]]);
    });

    it('surfaces a long 429 as rate_limited with retryAfterSeconds, not permanent', async () => {
      double.failNext('getFile', 1, { status: 429, retryAfter: 30 });
      const err = await rejection(client({ maxRetryAfterSeconds: 5 }).getFile('photo-1'));
      expect(err).toMatchObject({ code: 'rate_limited', permanent: false, retryAfterSeconds: 30 });
      expect(double.stats.getFile).toBe(1);
      expectNoToken(err, double.token);
    });

    it('stops waiting out a 429 when the signal aborts', async () => {
      double.failNext('getFile', 1, { status: 429, retryAfter: 5 });
      const controller = new AbortController();
      const api = client({ maxRetryAfterSeconds: 10, onApiError: () => controller.abort() });
      const started = performance.now();
      const err = await rejection(api.getFile('photo-1', controller.signal));
      expect(err).toBe(controller.signal.reason);
      expect((err as Error).name).toBe('AbortError');
      expect(performance.now() - started).toBeLessThan(4000);
      expect(double.stats.getFile).toBe(1);
    });

    it('names network failures by code only', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise<void>((resolve) => closed.close(() => resolve()));

      const err = await rejection(client({ baseUrl: `http://127.0.0.1:${port}`, retries: 1 }).getFile('photo-1'));
      expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: false });
      expect((err as Error).message).toContain('ECONNREFUSED');
      expect(apiErrors).toEqual([
        ['getFile', 0],
        ['getFile', 0],
      ]);
      expectNoToken(err, double.token);
    });

    it('times out a request that gets no answer', async () => {
      const stall = http.createServer(() => {});
      await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
      const { port } = stall.address() as AddressInfo;
      try {
        const api = client({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 100, retries: 0 });
        const err = await rejection(api.getFile('photo-1'));
        expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: false });
        expect((err as Error).message).toContain('timeout (request)');
        expectNoToken(err, double.token);
      } finally {
        stall.closeAllConnections();
        await new Promise<void>((resolve) => stall.close(() => resolve()));
      }
    });
  });

  describe('openFile', () => {
    it('streams the file', async () => {
      const { file, stream } = await client().openFile('photo-1');
      expect(file.fileSize).toBe(photo.length);
      expect((await collect(stream)).equals(photo)).toBe(true);
      expect(double.stats.downloadsByFileId.get('photo-1')).toBe(1);
      expect(double.requests).toEqual([
        'POST /bot<token>/getFile',
        `GET /file/bot<token>/${file.filePath}`,
      ]);
    });

    it('calls getFile again once when the file path has expired (404)', async () => {
      double.failNext('download', 1, { status: 404 });
      const { stream } = await client().openFile('photo-1');
      expect((await collect(stream)).equals(photo)).toBe(true);
      expect(double.stats.getFile).toBe(2);
      expect(double.stats.downloads).toBe(2);
      expect(apiErrors).toEqual([['download', 404]]);
    });

    it('refreshes the path only once', async () => {
      await double.close();
      double = await startBotApiDouble({ filePathTtlMs: 0 });
      double.addFile({ fileId: 'photo-1', fileUniqueId: 'uniq-1', bytes: photo });
      const err = await rejection(client().openFile('photo-1'));
      expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: false });
      expect(double.stats.getFile).toBe(2);
      expect(double.stats.downloads).toBe(2);
      expectNoToken(err, double.token);
    });

    it('retries a download answered with 5xx', async () => {
      double.failNext('download', 2, { status: 503 });
      const { stream } = await client().openFile('photo-1');
      expect((await collect(stream)).equals(photo)).toBe(true);
      expect(double.stats.getFile).toBe(1);
      expect(double.stats.downloads).toBe(3);
    });

    it('surfaces a long 429 on the download', async () => {
      double.failNext('download', 1, { status: 429, retryAfter: 60 });
      const err = await rejection(client().openFile('photo-1'));
      expect(err).toMatchObject({ code: 'rate_limited', permanent: false, retryAfterSeconds: 60 });
      expect(double.stats.downloads).toBe(1);
    });

    it('fails the stream with a transient AppError when the body breaks off', async () => {
      double.failNext('download', 1, { cutAfterBytes: 1000 });
      const { stream } = await client().openFile('photo-1');
      const err = await rejection(collect(stream));
      expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: false });
      expect((err as Error).message).toMatch(new RegExp(`broke off after \\d+ of ${photo.length} bytes`));
      expect(apiErrors).toEqual([['download', 0]]);
      expectNoToken(err, double.token);
    });

    it('fails on a rejected token without downloading', async () => {
      const err = await rejection(client({ token: '444444444:AAbadbadbadbadbadbadbadbadbadbadbad' }).openFile('photo-1'));
      expect(err).toMatchObject({ code: 'bot_not_configured', permanent: true });
      expect(double.stats.downloads).toBe(0);
    });

    it('ends the stream with the abort reason when the signal aborts mid-body', async () => {
      double.addFile({ fileId: 'big', fileUniqueId: 'uniq-big', size: 19 * 1024 * 1024 });
      const controller = new AbortController();
      const { stream } = await client({ maxRetryAfterSeconds: 1 }).openFile('big', controller.signal);
      const err = await new Promise<unknown>((resolve) => {
        stream.once('data', () => controller.abort());
        stream.once('error', resolve);
        stream.once('end', () => resolve(new Error('stream ended instead of failing')));
      });
      expect(err).toBe(controller.signal.reason);
      expect(double.stats.bytesServed).toBeLessThan(19 * 1024 * 1024);
    });

    it('rejects at once when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(client().openFile('photo-1', controller.signal)).rejects.toBe(controller.signal.reason);
      expect(double.stats.getFile).toBe(0);
    });
  });

  it('never shows the token when the client itself is logged', () => {
    const api = client();
    expect(JSON.stringify(api)).not.toContain(double.token);
    expect(inspect(api, { depth: 10, showHidden: true })).not.toContain(double.token);
  });
});
