/**
 * Security properties of the running service, checked through the API and the workers:
 * - SSRF: url sources naming loopback, private, link-local and IPv6 addresses (also in decimal
 *   and hex notation, behind a name, and behind redirects) are refused — with the hosts on
 *   REHOST_URL_ALLOWED_HOSTS, so the address checks are what refuses; a canary server on
 *   loopback proves nothing connected.
 * - caller-chosen filenames never reach an object key; SVG/HTML and polyglots dressed as images
 *   and decompression bombs are refused; oversized JSON bodies get 413; a stalled source is cut
 *   off after FETCH_IDLE_TIMEOUT_MS.
 * - bearer tokens are compared as equal-length digests, whatever the given token's length.
 * - no secret (bot token, S3 keys, API token, webhook secret) shows up in logs, job data, the
 *   event stream, database rows or error bodies.
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AssetsRepo } from '@rehost/db';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, makePngBombHeader, readImageFixture, startBotApiDouble, TINY_GIF } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

const WEBHOOK_SECRET = 'security-webhook-signing-secret-7f3a';
const WRONG_TOKEN = 'not-the-token-91c2e4';
const IDLE_MS = 400;

let stack: Stack;
let bot: BotApiDouble;
let repo: AssetsRepo;
const logLines: string[] = [];
/** Every non-2xx body the API sent in this file. */
const errorBodies: string[] = [];

/** Listens on every address (IPv4 and IPv6): any SSRF that gets through to loopback lands here. */
let canary: http.Server;
let canaryPort: number;
const canaryHits: string[] = [];
/** A trusted origin (127.0.0.2) that redirects wherever `?to=` says, or stalls. */
let origin: http.Server;
let originBase: string;
const originHits: string[] = [];
/** Connections to the stalling paths: when they opened, and (resolved) when the client gave up on them. */
const stalls = new Map<string, { openedAt: number; closed: Promise<number> }>();
const stallOpened = new EventEmitter();

async function listen(server: http.Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  canary = http.createServer((req, res) => {
    canaryHits.push(`${req.headers.host}${req.url}`);
    res.writeHead(200, { 'content-type': 'image/png' }).end(makePng(2, 2));
  });
  canaryPort = await listen(canary, '::');
  origin = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    originHits.push(url.pathname);
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to')! }).end();
    } else if (url.pathname.startsWith('/stall')) {
      // The first attempt's connection is the one measured (retries come back later).
      if (!stalls.has(url.pathname)) {
        const closed = new Promise<number>((resolve) => req.socket.once('close', () => resolve(Date.now())));
        stalls.set(url.pathname, { openedAt: Date.now(), closed });
        stallOpened.emit(url.pathname);
      }
      // Headers and the start of a PNG, then nothing: the source goes quiet mid-body.
      if (url.pathname === '/stall-body') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': '100000' });
        res.write(makePng(64, 64).subarray(0, 100));
      }
    } else if (url.pathname === '/hook') {
      req.resume();
      res.writeHead(200).end();
    } else {
      res.writeHead(404).end();
    }
  });
  originBase = `http://127.0.0.2:${await listen(origin, '127.0.0.2')}`;

  bot = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024 });
  const logger = createLogger({ name: 'rehost', level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
  stack = await startStack({
    logger,
    env: {
      LOG_LEVEL: 'debug',
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      // Every host below is allow-listed: the address checks alone must refuse them.
      REHOST_URL_ALLOWED_HOSTS: ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '::ffff:7f00:1', '10.0.0.1', '169.254.169.254', '0.0.0.0'].join(','),
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.2',
      FETCH_IDLE_TIMEOUT_MS: String(IDLE_MS),
      FETCH_CONNECT_TIMEOUT_MS: '1000',
      WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.2',
      MAX_UPLOAD_BYTES: String(32 * 1024 * 1024),
    },
  });
  repo = new AssetsRepo(stack.workerCtx!.sql);
  const call = stack.call;
  stack.call = async (path, init) => {
    const res = await call(path, init);
    if (res.status >= 400) errorBodies.push(JSON.stringify(res.body));
    return res;
  };
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
  canary?.close();
  origin?.closeAllConnections();
  origin?.close();
});

const rehostUrl = (url: string) => stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url } } });

async function assetCount(): Promise<number> {
  const { rows } = await stack.services.db.query(`SELECT count(*)::int AS n FROM "${stack.services.db.schema}"."Asset"`);
  return rows[0]!.n as number;
}

/** Bypasses the API's own check: the job goes straight to the worker, as if the API had let it through. */
async function rehostUrlInWorker(url: string): Promise<any> {
  const { asset } = await repo.createRehost({ id: crypto.randomUUID(), sourceType: 'url', sourceUrl: url });
  await stack.apiCtx.queues.enqueue('rehost', { assetId: asset.id, source: { type: 'url', url } });
  return waitTerminal(stack, asset.id);
}

describe('SSRF', () => {
  const targets = (): [string, string][] => [
    [`http://127.0.0.1:${canaryPort}/ssrf`, 'loopback'],
    [`http://2130706433:${canaryPort}/ssrf-decimal`, 'loopback'],
    [`http://0x7f000001:${canaryPort}/ssrf-hex`, 'loopback'],
    [`http://[::1]:${canaryPort}/ssrf-v6`, 'loopback'],
    [`http://[::ffff:127.0.0.1]:${canaryPort}/ssrf-mapped`, 'loopback'],
    [`http://localhost:${canaryPort}/ssrf-name`, 'loopback'],
    [`http://0.0.0.0:${canaryPort}/ssrf-unspecified`, 'unspecified'],
    ['http://10.0.0.1/internal', 'private'],
    ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'link-local'],
  ];

  it('the API refuses each private target with 400 url_not_allowed, naming why, and creates no asset', async () => {
    const before = await assetCount();
    for (const [url, why] of targets()) {
      const res = await rehostUrl(url);
      expect({ url, status: res.status, code: res.body.error?.code }).toEqual({ url, status: 400, code: 'url_not_allowed' });
      expect(res.body.error.message).toContain(why);
    }
    expect(await assetCount()).toBe(before);
    expect(canaryHits).toEqual([]);
  });

  it('the worker refuses each of them too, when a job reaches it without the API check', async () => {
    for (const [url, why] of targets()) {
      const asset = await rehostUrlInWorker(url);
      expect({ url, status: asset.status, code: asset.error?.code }).toEqual({ url, status: 'failed', code: 'url_not_allowed' });
      expect(asset.error.message).toContain(why);
    }
    expect(canaryHits).toEqual([]);
  });

  it('redirects from a trusted origin into private space are refused at the hop', async () => {
    const hops = [
      `http://127.0.0.1:${canaryPort}/via-redirect`,
      `http://2130706433:${canaryPort}/via-redirect-decimal`,
      `http://[::1]:${canaryPort}/via-redirect-v6`,
      `http://localhost:${canaryPort}/via-redirect-name`,
      'http://169.254.169.254/latest/meta-data/',
    ];
    for (const to of hops) {
      const before = originHits.length;
      const res = await rehostUrl(`${originBase}/redirect?to=${encodeURIComponent(to)}`);
      expect(res.status).toBe(202); // the first hop is a trusted host: accepted
      const asset = await waitTerminal(stack, res.body.assetId);
      expect({ to, status: asset.status, code: asset.error?.code }).toEqual({ to, status: 'failed', code: 'url_not_allowed' });
      expect(originHits.length).toBeGreaterThan(before); // the worker did follow the first hop
    }
    expect(canaryHits).toEqual([]);
  });
});

describe('filenames never become keys', () => {
  it.each([
    '../../etc/passwd.png',
    '..\\..\\windows\\win.ini.png',
    '/etc/shadow.png',
    'i/../../staging/other.png',
    '%2e%2e%2f%2e%2e%2fescape.png',
    'i/00000000-0000-4000-8000-000000000000.png',
    'name with spaces & <script>.png',
  ])('%j is kept as metadata only', async (filename) => {
    const png = makePng(6, 6);
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length, filename } });
    expect(created.status).toBe(201);
    const { assetId, upload } = created.body;
    const signedPath = decodeURIComponent(new URL(upload.url).pathname);
    expect(signedPath.endsWith(`/staging/${assetId}`)).toBe(true);
    expect(await putUpload(upload, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
    const asset = await waitTerminal(stack, assetId);
    expect(asset).toMatchObject({ status: 'ready', key: expect.stringMatching(/^i\/[0-9a-f]{32}\.png$/), source: { type: 'upload', filename } });
    const keys = await stack.services.bucket.store.listKeys('');
    for (const k of keys) expect(k).toMatch(/^(i\/[0-9a-f]{32}\.(png|gif|jpg|webp|avif)|staging\/[0-9a-f-]{36})$/);
  });

  it('a filename with a NUL byte is refused as a bad request, not an internal error', async () => {
    const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10, filename: 'x.png\u0000.html' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
  });
});

describe('content disguised as images', () => {
  const disguised: [string, Buffer][] = [
    ['an SVG with script', readImageFixture('drawing.svg')],
    ['an HTML page', readImageFixture('page.html')],
    ['HTML behind a PNG signature', Buffer.concat([makePng(1, 1).subarray(0, 8), Buffer.from('<html><script>alert(1)</script></html>')])],
    ['a GIF header followed by script', Buffer.concat([TINY_GIF.subarray(0, 13), Buffer.from('<script>alert(document.domain)</script>')])],
  ];

  it.each(disguised)('an upload of %s declared image/png fails, and nothing is published', async (_what, bytes) => {
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bytes.length } });
    const { assetId, upload } = created.body;
    expect(await putUpload(upload, bytes)).toBe(200);
    await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, assetId);
    expect(asset.status).toBe('failed');
    expect(['not_an_image', 'truncated_image']).toContain(asset.error.code);
    expect(await stack.services.bucket.store.listKeys(`i/${assetId}`)).toEqual([]);
    expect(await stack.services.bucket.store.head(`staging/${assetId}`)).toBeUndefined();
  });

  it('a Telegram "photo" that is HTML fails the same way', async () => {
    bot.addFile({ fileId: 'sec-html', fileUniqueId: 'sec-html-u', bytes: readImageFixture('page.html') });
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'sec-html' } } });
    const asset = await waitTerminal(stack, res.body.assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'not_an_image' } });
    expect(await stack.services.bucket.store.listKeys(`i/${res.body.assetId}`)).toEqual([]);
  });
});

describe('decompression bombs', () => {
  it('a PNG header claiming 60000x60000 pixels is refused from its header (upload)', async () => {
    const bomb = makePngBombHeader(60_000, 60_000);
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bomb.length } });
    await putUpload(created.body.upload, bomb);
    await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(stack, created.body.assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'too_many_pixels' } });
  });

  it('a streamed bomb is cut off after its header, long before its body ends (rehost)', async () => {
    const header = makePngBombHeader(60_000, 60_000).subarray(0, 33); // signature + IHDR
    const size = 24 * 1024 * 1024;
    let pulled = 0;
    bot.addFile({
      fileId: 'sec-bomb',
      fileUniqueId: 'sec-bomb-u',
      size,
      body: () => {
        let sent = 0;
        return new Readable({
          read() {
            const chunk = sent === 0 ? Buffer.concat([header, Buffer.alloc(64 * 1024 - header.length)]) : Buffer.alloc(Math.min(64 * 1024, size - sent));
            sent += chunk.length;
            pulled = sent;
            this.push(chunk.length ? chunk : null);
            if (sent >= size) this.push(null);
          },
        });
      },
    });
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'sec-bomb' } } });
    const asset = await waitTerminal(stack, res.body.assetId);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'too_many_pixels' } });
    expect(pulled).toBeLessThan(size / 2);
    expect(await stack.services.bucket.store.listMultipartUploads('')).toEqual([]);
  });
});

describe('request bodies', () => {
  const big = { source: { type: 'telegram', fileId: 'x' }, metadata: { blob: 'x'.repeat(100 * 1024) } };

  it.each(['/v1/rehost', '/v1/uploads'])('a JSON body over 64 KiB on %s is refused with 413', async (path) => {
    const res = await stack.call(path, { method: 'POST', json: big });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('too_large');
  });

  it('a chunked body (no Content-Length) over the limit is refused with 413 too', async () => {
    const chunks = Array.from({ length: 20 }, () => Buffer.from('x'.repeat(8 * 1024)));
    const body = Readable.toWeb(Readable.from([Buffer.from('{"source":{"type":"telegram","fileId":"'), ...chunks, Buffer.from('"}}')])) as ReadableStream;
    const res = await fetch(`${stack.baseUrl}/v1/rehost`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });
});

/** Resolves with the stalled connection on `path` once it has been opened (bounded). */
async function stallOn(path: string, timeoutMs = 10_000) {
  if (!stalls.has(path)) await once(stallOpened, path, { signal: AbortSignal.timeout(timeoutMs) });
  return stalls.get(path)!;
}

describe('slow sources', () => {
  it.each([
    ['/stall-headers', 'never sends headers'],
    ['/stall-body', 'goes quiet mid-body'],
  ])('a source that %s is cut off after FETCH_IDLE_TIMEOUT_MS', async (path) => {
    const res = await rehostUrl(`${originBase}${path}`);
    expect(res.status).toBe(202);
    // The first attempt's connection: opened, then closed by the worker once the source went quiet.
    const stall = await stallOn(path);
    const heldMs = (await stall.closed) - stall.openedAt;
    expect(heldMs).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(heldMs).toBeLessThan(IDLE_MS + 2_000);
    // Retryable (the source may recover): the asset is not failed for it yet.
    expect((await stack.call(`/v1/assets/${res.body.assetId}`)).body.status).not.toBe('ready');
    expect((await stack.call(`/v1/assets/${res.body.assetId}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('bearer tokens', () => {
  it('are compared as equal-length digests against every configured token, whatever the given length', async () => {
    const compared: [number, number][] = [];
    await jest.isolateModulesAsync(async () => {
      const real = await import('node:crypto');
      jest.unstable_mockModule('node:crypto', () => ({
        ...real,
        default: real,
        timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
          compared.push([a.byteLength, b.byteLength]);
          return real.timingSafeEqual(a, b);
        },
      }));
      const { bearerAuth } = await import('@rehost/api/plugins/auth');
      const tokens = ['first-token-aaaaaaaaaaaaaaaa', 'second-token-bbbb', 'third'];
      const check = bearerAuth(tokens);
      const asRequest = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as never;
      const refused = async (authorization?: string) => {
        const err = await check(asRequest(authorization)).then(
          () => undefined,
          (e: unknown) => e,
        );
        return (err as { code?: string } | undefined)?.code;
      };

      for (const given of ['x', 'first-token-aaaaaaaaaaaaaaab', 'first-token-aaaaaaaaaaaaaaa', 'y'.repeat(10_000), 'secon', `${tokens[1]}x`]) {
        compared.length = 0;
        expect({ given: given.slice(0, 30), code: await refused(`Bearer ${given}`) }).toEqual({ given: given.slice(0, 30), code: 'unauthorized' });
        // One comparison per configured token, each of two 32-byte digests: no early exit, no length leak.
        expect(compared).toEqual(tokens.map(() => [32, 32]));
      }
      for (const t of tokens) {
        compared.length = 0;
        expect(await refused(`Bearer ${t}`)).toBeUndefined();
        expect(compared).toHaveLength(tokens.length);
      }
      expect(await refused(undefined)).toBe('unauthorized');
      expect(await refused('Basic Zm9vOmJhcg==')).toBe('unauthorized');
      expect(await refused('Bearer')).toBe('unauthorized');
    });
  });

  it('a wrong token of another length is refused by the API with 401', async () => {
    for (const t of [WRONG_TOKEN, 'a', 'b'.repeat(4096)]) {
      const res = await stack.call('/v1/assets/00000000-0000-4000-8000-000000000000', { headers: { authorization: `Bearer ${t}` } });
      expect(res.status).toBe(401);
    }
  });
});

describe('secrets', () => {
  it('appear nowhere: logs, Redis (job data, events), database rows, error bodies', async () => {
    // A run through the failure paths whose messages could carry a secret.
    bot.addFile({ fileId: 'sec-secret', fileUniqueId: 'sec-secret-u', bytes: makePng(9, 9) });
    bot.failNext('download', 1, { status: 502 });
    bot.failNext('getFile', 1, { status: 429, retryAfter: 1 });
    const ok = await stack.call('/v1/rehost', {
      method: 'POST',
      json: { source: { type: 'telegram', fileId: 'sec-secret' }, callbackUrl: `${originBase}/hook` },
    });
    expect(ok.status).toBe(202);
    await waitTerminal(stack, ok.body.assetId, 60_000);
    const failed = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: 'sec-missing-file' } } });
    await waitTerminal(stack, failed.body.assetId);
    await stack.call('/v1/assets/nope', { headers: { authorization: `Bearer ${WRONG_TOKEN}` } });

    const env = stack.services.env;
    const secrets: [string, string][] = [
      ['bot token', bot.token],
      ['bot token secret part', bot.token.split(':')[1]!],
      ['S3 secret key', env.S3_SECRET_ACCESS_KEY!],
      ['S3 access key id', env.S3_ACCESS_KEY_ID!],
      ['API token', stack.token],
      ['wrong bearer token sent', WRONG_TOKEN],
      ['webhook signing secret', WEBHOOK_SECRET],
    ];

    const redis = stack.services.redis.redis;
    const keys = await redis.keys(`${stack.services.redis.prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    const redisDump: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      redisDump.push(
        type === 'hash' ? JSON.stringify(await redis.hgetall(key))
        : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+'))
        : type === 'string' ? ((await redis.get(key)) ?? '')
        : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
        : type === 'zset' ? JSON.stringify(await redis.zrange(key, '0', '-1'))
        : type === 'set' ? JSON.stringify(await redis.smembers(key))
        : '',
      );
    }
    const { db } = stack.services;
    const rows = [
      ...(await db.query(`SELECT row_to_json(a)::text AS j FROM "${db.schema}"."Asset" a`)).rows,
      ...(await db.query(`SELECT row_to_json(w)::text AS j FROM "${db.schema}"."WebhookDelivery" w`)).rows,
    ].map((r) => r.j as string);
    expect(rows.length).toBeGreaterThan(10);
    expect(errorBodies.length).toBeGreaterThan(10);
    expect(logLines.length).toBeGreaterThan(100);

    const places: [string, string[]][] = [
      ['logs', logLines],
      ['redis', redisDump],
      ['database', rows],
      ['error bodies', errorBodies],
    ];
    for (const [place, texts] of places) {
      for (const [what, secret] of secrets) {
        const hits = texts.filter((t) => t.includes(secret)).map((t) => t.slice(0, 200));
        expect({ place, what, hits }).toEqual({ place, what, hits: [] });
      }
    }
  });
});
