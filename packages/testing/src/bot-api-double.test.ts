import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type BotApiDouble, startBotApiDouble } from './bot-api-double.js';

interface ApiBody {
  ok: boolean;
  result?: { file_id: string; file_unique_id: string; file_size: number; file_path: string };
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

describe('Bot API double', () => {
  let api: BotApiDouble;
  const photo = randomBytes(100 * 1024);

  beforeEach(async () => {
    api = await startBotApiDouble();
    api.addFile({ fileId: 'photo-1', fileUniqueId: 'uniq-1', bytes: photo });
  });
  afterEach(() => api.close());

  const method = (name: string, token = api.token) => `${api.baseUrl}/bot${token}/${name}`;
  const getFile = async (fileId: string, token = api.token) => {
    const res = await fetch(`${method('getFile', token)}?file_id=${encodeURIComponent(fileId)}`);
    return { status: res.status, headers: res.headers, body: (await res.json()) as ApiBody };
  };
  const download = (filePath: string) => fetch(`${api.baseUrl}/file/bot${api.token}/${filePath}`);

  it('generates a token shaped like a real one', () => {
    expect(api.token).toMatch(/^\d{9,10}:AA[A-Za-z0-9_-]{33}$/);
    expect(api.tokens).toEqual([api.token]);
  });

  it('answers getFile by GET, JSON POST and form POST, then serves the bytes with Content-Length', async () => {
    const viaGet = await getFile('photo-1');
    const viaJson = (await (
      await fetch(method('getFile'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ file_id: 'photo-1' }),
      })
    ).json()) as ApiBody;
    const viaForm = (await (
      await fetch(method('getFile'), { method: 'POST', body: new URLSearchParams({ file_id: 'photo-1' }) })
    ).json()) as ApiBody;

    expect(viaGet.status).toBe(200);
    expect(viaGet.body.result).toEqual({
      file_id: 'photo-1',
      file_unique_id: 'uniq-1',
      file_size: photo.length,
      file_path: expect.stringMatching(/^photos\/file_\d+\.jpg$/),
    });
    // The path stays the same while it is valid, as on the real API.
    expect(viaJson.result?.file_path).toBe(viaGet.body.result?.file_path);
    expect(viaForm.result?.file_path).toBe(viaGet.body.result?.file_path);

    const res = await download(viaGet.body.result!.file_path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(photo.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true);
    expect(api.stats).toMatchObject({ getFile: 3, downloads: 1, bytesServed: photo.length });
    expect(api.stats.downloadsByFileId.get('photo-1')).toBe(1);
  });

  it('answers wrong tokens, unknown file ids and oversized files as Telegram does', async () => {
    api.addFile({ fileId: 'huge', fileUniqueId: 'uniq-huge', size: 20 * 1024 * 1024 + 1 });

    const wrongToken = await getFile('photo-1', '987654321:AAwrongwrongwrongwrongwrongwrongwro');
    expect(wrongToken.status).toBe(401);
    expect(wrongToken.body).toEqual({ ok: false, error_code: 401, description: 'Unauthorized' });

    const unknown = await getFile('nope');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({ ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });

    const tooBig = await getFile('huge');
    expect(tooBig.status).toBe(400);
    expect(tooBig.body).toEqual({ ok: false, error_code: 400, description: 'Bad Request: file is too big' });

    const unknownPath = await download('photos/file_999.jpg');
    expect(unknownPath.status).toBe(404);
    expect(await unknownPath.json()).toEqual({ ok: false, error_code: 404, description: 'Not Found' });
  });

  it('expires issued paths on demand, and issues a new one on the next getFile', async () => {
    const first = (await getFile('photo-1')).body.result!.file_path;
    api.expireFilePaths();
    expect((await download(first)).status).toBe(404);

    const second = (await getFile('photo-1')).body.result!.file_path;
    expect(second).not.toBe(first);
    expect((await download(second)).status).toBe(200);
  });

  it('expires paths after filePathTtlMs', async () => {
    await api.close();
    api = await startBotApiDouble({ filePathTtlMs: 0 });
    api.addFile({ fileId: 'photo-1', fileUniqueId: 'uniq-1', bytes: photo });
    const path = (await getFile('photo-1')).body.result!.file_path;
    expect((await download(path)).status).toBe(404);
  });

  it('injects 429 with retry_after and Retry-After, 5xx, then answers normally', async () => {
    api.failNext('getFile', 1, { status: 429, retryAfter: 7 });
    api.failNext('getFile', 1, { status: 502 });
    api.failNext('getFile', 1, { status: 500 });

    const limited = await getFile('photo-1');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.body).toEqual({
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 7',
      parameters: { retry_after: 7 },
    });

    const gateway = await fetch(`${method('getFile')}?file_id=photo-1`);
    expect(gateway.status).toBe(502);
    expect(await gateway.text()).toContain('502 Bad Gateway');

    const internal = await getFile('photo-1');
    expect(internal.status).toBe(500);
    expect(internal.body.error_code).toBe(500);

    expect((await getFile('photo-1')).status).toBe(200);
    expect(api.stats.getFile).toBe(4);
  });

  it('cuts a download after the given number of bytes', async () => {
    const path = (await getFile('photo-1')).body.result!.file_path;
    api.failNext('download', 1, { cutAfterBytes: 1000 });

    const res = await download(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(photo.length));
    await expect(res.arrayBuffer()).rejects.toThrow();
    expect(api.stats.bytesServed).toBe(1000);

    expect(Buffer.from(await (await download(path)).arrayBuffer()).equals(photo)).toBe(true);
  });

  it('streams generated bodies of the declared size', async () => {
    const size = 8 * 1024 * 1024 + 123;
    api.addFile({ fileId: 'generated', fileUniqueId: 'uniq-gen', size });
    let made = 0;
    api.addFile({
      fileId: 'custom',
      fileUniqueId: 'uniq-custom',
      size: 3,
      body: () => {
        made += 1;
        return Readable.from([Buffer.from('abc')]);
      },
    });

    const res = await download((await getFile('generated')).body.result!.file_path);
    expect(res.headers.get('content-length')).toBe(String(size));
    let received = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    expect(received).toBe(size);

    const custom = await download((await getFile('custom')).body.result!.file_path);
    expect(await custom.text()).toBe('abc');
    expect(made).toBe(1);
  });

  it('logs request lines without the token', async () => {
    await getFile('photo-1');
    await getFile('photo-1', '111111111:AAbadbadbadbadbadbadbadbadbadbadbad');
    expect(api.requests).toEqual([
      'GET /bot<token>/getFile?file_id=photo-1',
      'GET /bot<invalid-token>/getFile?file_id=photo-1',
    ]);
    expect(api.requests.join('\n')).not.toContain(api.token);
  });
});
