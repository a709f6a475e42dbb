import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

  it('leaves "wrong file_id or the file is temporarily unavailable" to the job: transient, not retried inside the call', async () => {
    double.failNext('getFile', 1, { status: 400, description: 'Bad Request: wrong file_id or the file is temporarily unavailable' });
    const err = await rejection(client().getFile('photo-1'));
    expect(err).toMatchObject({ code: 'telegram_invalid_file', permanent: false });
    expect(double.stats.getFile).toBe(1);
  });
});

describe('TelegramBotApi against a local Bot API server', () => {
  let local: BotApiDouble;
  const localClient = (localFiles: BotApiOptions['localFiles']) =>
    new TelegramBotApi({ baseUrl: local.baseUrl, token: local.token, name: 'big', retryBaseDelayMs: 1, localFiles });

  beforeEach(async () => {
    local = await startBotApiDouble({ local: true });
    local.addFile({ fileId: 'photo-1', fileUniqueId: 'uniq-1', bytes: photo });
  });
  afterEach(() => local.close());

  it('reads the absolute file_path from the mounted directory, with no HTTP download', async () => {
    const { file, stream } = await localClient({ dir: local.localDir }).openFile('photo-1');
    expect(file.filePath).toBe(path.join(local.localDir!, local.token, 'photos', 'file_1.jpg'));
    expect((await collect(stream)).equals(photo)).toBe(true);
    expect(local.requests).toEqual(['POST /bot<token>/getFile']);
  });

  it('maps the server\'s own directory (its --dir) onto the mounted one', async () => {
    const rel = path.join(local.token, 'documents', 'file_9.png');
    await mkdir(path.dirname(path.join(local.localDir!, rel)), { recursive: true });
    await writeFile(path.join(local.localDir!, rel), photo);
    local.addFile({ fileId: 'moved', fileUniqueId: 'uniq-moved', bytes: photo, filePath: `/var/lib/telegram-bot-api/${rel}` });
    const { stream } = await localClient({ dir: local.localDir, serverDir: '/var/lib/telegram-bot-api' }).openFile('moved');
    expect((await collect(stream)).equals(photo)).toBe(true);
  });

  it('reads it through a static file server in front of the directory', async () => {
    const { stream } = await localClient({ baseUrl: local.localFilesBaseUrl, serverDir: local.localDir }).openFile('photo-1');
    expect((await collect(stream)).equals(photo)).toBe(true);
    expect(local.requests).toEqual(['POST /bot<token>/getFile', 'GET /local-files/<token>/photos/file_1.jpg']);
  });

  it('refuses a path that escapes the directory with ..', async () => {
    local.addFile({ fileId: 'dots', fileUniqueId: 'uniq-dots', bytes: photo, filePath: `${local.localDir}/${local.token}/../../etc/passwd` });
    const err = await rejection(localClient({ dir: local.localDir }).openFile('dots'));
    expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: true });
    expect((err as Error).message).toContain('outside its working directory');
    expectNoToken(err, local.token);
  });

  it('refuses a symlink inside the directory that points out of it', async () => {
    const outside = await mkdtemp(path.join(tmpdir(), 'rehost-outside-'));
    try {
      await writeFile(path.join(outside, 'secret.png'), photo);
      await mkdir(path.join(local.localDir!, local.token, 'photos'), { recursive: true });
      const link = path.join(local.localDir!, local.token, 'photos', 'link.png');
      await symlink(path.join(outside, 'secret.png'), link);
      local.addFile({ fileId: 'link', fileUniqueId: 'uniq-link', bytes: photo, filePath: link });
      const err = await rejection(localClient({ dir: local.localDir }).openFile('link'));
      expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: true });
      expect((err as Error).message).toContain('outside its working directory');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('calls getFile again once when the file has vanished (server restarted or cleaned)', async () => {
    local.failNext('download', 1, { status: 404 });
    const { stream } = await localClient({ dir: local.localDir }).openFile('photo-1');
    expect((await collect(stream)).equals(photo)).toBe(true);
    expect(local.stats.getFile).toBe(2);
  });

  it('fails for good, clearly, when the file is missing after a fresh getFile too', async () => {
    local.failNext('download', 2, { status: 404 });
    const err = await rejection(localClient({ dir: local.localDir }).openFile('photo-1'));
    expect(err).toMatchObject({ code: 'telegram_unavailable', permanent: true });
    expect((err as Error).message).toContain('even after a fresh getFile');
    expect(local.stats.getFile).toBe(2);
    expectNoToken(err, local.token);
  });

  it('through the static server, a vanished file (404) is refreshed once too', async () => {
    await localClient({ baseUrl: local.localFilesBaseUrl, serverDir: local.localDir }).getFile('photo-1');
    await local.expireFilePaths();
    const { stream } = await localClient({ baseUrl: local.localFilesBaseUrl, serverDir: local.localDir }).openFile('photo-1');
    expect((await collect(stream)).equals(photo)).toBe(true);
  });

  it('names the missing setting when neither a directory nor a base URL is configured', async () => {
    const err = await rejection(localClient(undefined).openFile('photo-1'));
    expect(err).toMatchObject({ code: 'bot_not_configured', permanent: true });
    expect((err as Error).message).toContain('TELEGRAM_LOCAL_FILES_DIR');
  });
});
