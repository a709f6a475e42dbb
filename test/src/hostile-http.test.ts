/**
 * Hostile or careless requests against the real API over real sockets: every one is answered with
 * a fitting 4xx in the one error shape `{"error":{"code","message"}}`, never a 500, and nothing
 * is written for it.
 * - strings PostgreSQL cannot take (a lone surrogate, a NUL at any depth), structures too deep,
 *   prototype keys;
 * - Fastify's own errors (bad URL encoding, media type, JSON syntax, size, unknown route) and
 *   broken HTTP;
 * - media types compared case-insensitively without parameters; an empty query parameter means
 *   its default; one metadata limit on every route;
 * - a `url` source carrying a Telegram bot token is refused, and the token is stored, queued and
 *   logged nowhere.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@rehost/logger';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { putUpload } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
const logLines: string[] = [];

beforeAll(async () => {
  bot = await startBotApiDouble();
  bot.addFile({ fileId: 'AgAC-file', fileUniqueId: 'AgAC-file-u', bytes: makePng(5, 5) });
  const logger = createLogger({ name: 'rehost', level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
  stack = await startStack({
    logger,
    env: {
      LOG_LEVEL: 'debug',
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      // Hosts a token-carrying URL may name: the allowlist must not be what refuses it.
      REHOST_URL_ALLOWED_HOSTS: 'api.telegram.org,mirror.example,127.0.0.1',
      // …nor the address check (no DNS is needed to see the token; 127.0.0.1 is reachable here).
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      WEBHOOK_SIGNING_SECRET: 'hostile-http-webhook-secret-0123',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
});

async function assetCount(): Promise<number> {
  const { rows } = await stack.services.db.query(`SELECT count(*)::int AS n FROM "${stack.services.db.schema}"."Asset"`);
  return rows[0]!.n as number;
}

/** Sends `body` as written (JSON escapes such as \ud800 survive only in raw text). */
async function post(path: string, body: string, headers: Record<string, string> = {}) {
  return stack.call(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

function expectErrorShape(res: { status: number; body: any }, status: number, code?: string) {
  expect({ status: res.status, body: res.body }).toEqual({
    status,
    body: { error: { code: code ?? expect.any(String), message: expect.any(String) } },
  });
}

const nest = (depth: number, inner: string) => '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
const upload = (fields: string) => `{"contentType":"image/png","size":100${fields ? `,${fields}` : ''}}`;
const rehost = (source: string, fields = '') => `{"source":${source}${fields ? `,${fields}` : ''}}`;
const tg = '{"type":"telegram","fileId":"AgAC-file"}';

describe('hostile strings are 400s, never 500s, and write nothing', () => {
  const cases: [string, string, string][] = [
    // a lone surrogate in every string field and in metadata keys and values
    ['/v1/uploads', upload('"filename":"a\\ud800b.png"'), 'filename'],
    ['/v1/uploads', upload('"ownerId":"a\\ud800b"'), 'ownerId'],
    ['/v1/uploads', '{"contentType":"image/png\\udc00","size":100}', 'contentType'],
    ['/v1/uploads', upload('"metadata":{"k":"a\\ud800b"}'), 'metadata value'],
    ['/v1/uploads', upload('"metadata":{"a\\ud800b":1}'), 'metadata key'],
    ['/v1/uploads', upload('"metadata":{"deep":[{"x":"\\udfff"}]}'), 'nested metadata value'],
    ['/v1/rehost', rehost('{"type":"telegram","fileId":"a\\ud800b"}'), 'source.fileId'],
    ['/v1/rehost', rehost('{"type":"telegram","fileId":"f","fileUniqueId":"a\\ud800b"}'), 'source.fileUniqueId'],
    ['/v1/rehost', rehost('{"type":"telegram","fileId":"f","bot":"a\\ud800b"}'), 'source.bot'],
    ['/v1/rehost', rehost('{"type":"url","url":"https://mirror.example/a\\ud800b.png"}'), 'source.url'],
    ['/v1/rehost', rehost(tg, '"ownerId":"a\\ud800b"'), 'ownerId'],
    ['/v1/rehost', rehost(tg, '"idempotencyKey":"a\\ud800b"'), 'idempotencyKey'],
    ['/v1/rehost', rehost(tg, '"callbackUrl":"https://hooks.example/a\\ud800b"'), 'callbackUrl'],
    ['/v1/rehost', rehost(tg, '"metadata":{"k":"a\\ud800b"}'), 'metadata value'],
    ['/v1/rehost', rehost(tg, '"metadata":{"\\ud800":"v"}'), 'metadata key'],
    // depth
    ['/v1/uploads', upload(`"metadata":${nest(200, '1')}`), 'metadata 200 levels deep'],
    ['/v1/rehost', rehost(tg, `"metadata":${nest(200, '1')}`), 'metadata 200 levels deep'],
    ['/v1/rehost', rehost(tg, `"metadata":${nest(20, '1')}`), 'metadata 20 levels deep'],
    ['/v1/uploads', upload(`"metadata":${nest(40, '"x\\u0000y"')}`), 'a NUL 40 levels deep'],
    ['/v1/rehost', rehost(tg, `"metadata":${nest(40, '"x\\u0000y"')}`), 'a NUL 40 levels deep'],
    ['/v1/uploads', upload('"metadata":{"a\\u0000":1}'), 'a NUL in a metadata key'],
    // prototype keys
    ['/v1/uploads', upload('"metadata":{"__proto__":{"polluted":true}}'), '__proto__ in metadata'],
    ['/v1/rehost', rehost(tg, '"__proto__":{"polluted":true}'), '__proto__ at the top'],
    ['/v1/uploads', upload('"metadata":{"constructor":{"prototype":{"polluted":true}}}'), 'constructor.prototype in metadata'],
    ['/v1/rehost', rehost(tg, '"metadata":{"constructor":"x"}'), 'constructor in metadata'],
  ];

  it.each(cases)('%s with %#: %s', async (path, body, what) => {
    const before = await assetCount();
    const res = await post(path, body);
    expectErrorShape(res, 400, 'bad_request');
    expect(res.body.error.message).not.toMatch(/not valid JSON/);
    if (/proto|constructor/.test(what)) expect(res.body.error.message).toMatch(/__proto__|constructor/);
    expect(await assetCount()).toBe(before);
  });

  it('nothing was polluted', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('well-formed astral characters (surrogate pairs) and 16 levels of metadata are fine', async () => {
    const res = await post('/v1/uploads', upload(`"filename":"\\ud83d\\ude00.png","metadata":{"m":${nest(15, '"\\ud83d\\ude00"')}}`));
    expect(res.status).toBe(201);
    const asset = await stack.call(`/v1/assets/${res.body.assetId}`);
    expect(asset.body.source.filename).toBe('\u{1F600}.png');
  });
});

describe('one error contract for Fastify\'s own errors and broken HTTP', () => {
  it('a bad URL encoding', async () => {
    const res = await stack.call('/v1/assets/%E0%A4%A');
    expectErrorShape(res, 400, 'bad_request');
  });

  it('an unknown route, with and without a token', async () => {
    expectErrorShape(await stack.call('/v1/nothing-here'), 404, 'not_found');
    expectErrorShape(await stack.call('/nothing-here', { headers: { authorization: '' } }), 404, 'not_found');
  });

  it('a body without a content type, and one of another type', async () => {
    const none = await fetch(`${stack.baseUrl}/v1/rehost`, { method: 'POST', headers: { authorization: `Bearer ${stack.token}` }, body: new Uint8Array(Buffer.from(rehost(tg))) });
    expectErrorShape({ status: none.status, body: await none.json() }, 415, 'unsupported_type');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await post('/v1/rehost', rehost(tg), { 'content-type': type });
      expect({ type, status: res.status }).toEqual({ type, status: 415 });
      expectErrorShape(res, 415, 'unsupported_type');
    }
  });

  it('JSON syntax errors, an empty JSON body, a body over the limit', async () => {
    expectErrorShape(await post('/v1/rehost', '{"source":'), 400, 'bad_request');
    expectErrorShape(await post('/v1/rehost', ''), 400, 'bad_request');
    expectErrorShape(await post('/v1/rehost', JSON.stringify({ source: { type: 'telegram', fileId: 'x'.repeat(70 * 1024) } })), 413, 'too_large');
  });

  it('the JSON content type is matched case-insensitively, with parameters', async () => {
    const res = await post('/v1/uploads', upload(''), { 'content-type': 'Application/JSON; charset=UTF-8' });
    expect(res.status).toBe(201);
  });

  /** Writes raw bytes, returns everything the server sent until it closed the connection. */
  async function raw(request: string): Promise<string> {
    const { port } = new URL(stack.baseUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(request);
    await new Promise<void>((resolve, reject) => {
      socket.once('close', () => resolve());
      // A reset after the reply still leaves the reply to check.
      socket.once('error', (err) => (chunks.length ? resolve() : reject(err)));
    });
    return Buffer.concat(chunks).toString('latin1');
  }
  const bodyOf = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));

  it('malformed HTTP and oversized headers', async () => {
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(garbage)).toEqual({ error: { code: 'bad_request', message: expect.any(String) } });

    const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(bodyOf(huge)).toEqual({ error: { code: 'too_large', message: expect.any(String) } });
  });
});

describe('media types, empty query parameters, metadata limits', () => {
  it.each(['IMAGE/PNG', 'image/png; charset=binary', ' Image/Png ;q=1'])('contentType %j is image/png', async (contentType) => {
    const png = makePng(3, 3);
    const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType, size: png.length } });
    expect(res.status).toBe(201);
    expect(res.body.upload.headers['Content-Type']).toBe('image/png');
    expect(await putUpload(res.body.upload, png)).toBe(200);
  });

  it('an unsupported type is still a 415', async () => {
    expectErrorShape(await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'IMAGE/SVG+XML', size: 10 } }), 415, 'unsupported_type');
  });

  it('an empty timeoutMs means the default: /wait keeps waiting, and answers when the asset settles', async () => {
    const png = makePng(4, 4);
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
    const { assetId, upload: put } = created.body;
    // Registered before the asset changes; an "empty means 0" API would answer pending_upload at once.
    const waiting = stack.call(`/v1/assets/${assetId}/wait?timeoutMs=`);
    const early = await Promise.race([waiting.then(() => 'answered'), new Promise((r) => setTimeout(r, 300, 'still waiting'))]);
    expect(early).toBe('still waiting');
    expect(await putUpload(put, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
  });

  it('a malformed timeoutMs is a 400', async () => {
    expectErrorShape(await stack.call('/v1/assets/00000000-0000-4000-8000-000000000000/wait?timeoutMs=soon'), 400, 'bad_request');
  });

  it.each(['/v1/uploads', '/v1/rehost'])('metadata over 8 KiB is refused on %s, 8 KiB is accepted', async (path) => {
    const base = path === '/v1/uploads' ? { contentType: 'image/png', size: 100 } : { source: { type: 'telegram', fileId: 'AgAC-file' } };
    const before = await assetCount();
    const over = await stack.call(path, { method: 'POST', json: { ...base, metadata: { blob: 'x'.repeat(9 * 1024) } } });
    expectErrorShape(over, 400, 'bad_request');
    expect(over.body.error.message).toContain('metadata');
    expect(await assetCount()).toBe(before);
    const fits = await stack.call(path, { method: 'POST', json: { ...base, metadata: { blob: 'x'.repeat(8 * 1024 - 20) } } });
    expect(fits.status).toBeLessThan(300);
  });
});

describe('a url source carrying a Telegram bot token', () => {
  const secret = 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
  const token = `7712345678:${secret}`;
  const urls = [
    `https://api.telegram.org/file/bot${token}/photos/file_1.jpg`,
    `https://api.telegram.org/bot${token}/getFile?file_id=x`,
    `https://mirror.example/file/bot${token}/photos/file_1.jpg`,
    `https://mirror.example/file/bot${token.replace(':', '%3A')}/photos/file_1.jpg`,
    `https://mirror.example/file/${encodeURIComponent(encodeURIComponent(`bot${token}`))}/photos/file_1.jpg`,
    `http://127.0.0.1/file/bot${token}/x.jpg`,
  ];

  it.each(urls)('%s is refused with 400, pointing to the telegram source type', async (url) => {
    const before = await assetCount();
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url }, idempotencyKey: `k-${url.length}` } });
    expectErrorShape(res, 400, 'bad_request');
    expect(res.body.error.message).toContain('telegram');
    expect(JSON.stringify(res.body)).not.toContain(secret);
    expect(await assetCount()).toBe(before);
  });

  it('the token is stored, queued and logged nowhere', async () => {
    const redis = stack.services.redis.redis;
    const keys = await redis.keys(`${stack.services.redis.prefix}*`);
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue;
      expect(JSON.stringify(await redis.hgetall(key))).not.toContain(secret);
    }
    const { db } = stack.services;
    const rows = (await db.query(`SELECT row_to_json(a)::text AS j FROM "${db.schema}"."Asset" a`)).rows.map((r) => r.j as string);
    expect(rows.filter((r) => r.includes(secret))).toEqual([]);
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.filter((l) => l.includes(secret) || l.includes(secret.slice(0, 12)))).toEqual([]);
  });
});

describe('the OpenAPI document', () => {
  it('lists, for every /v1 route, every error status it can answer', async () => {
    const doc = (await (await fetch(`${stack.baseUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const listed = Object.fromEntries(
      Object.entries(doc.paths)
        .filter(([path]) => path.startsWith('/v1/'))
        .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => [`${method.toUpperCase()} ${path}`, Object.keys(op.responses).sort()])),
    );
    const expected: Record<string, string[]> = {
      'POST /v1/uploads': ['201', '400', '401', '413', '415', '503'],
      'POST /v1/uploads/{assetId}/complete': ['200', '202', '400', '401', '404', '409', '410', '413', '415', '503'],
      'GET /v1/assets/{assetId}': ['200', '400', '401', '404', '503'],
      'GET /v1/assets/{assetId}/wait': ['200', '400', '401', '404', '503'],
      'DELETE /v1/assets/{assetId}': ['204', '400', '401', '404', '413', '415', '503'],
      'POST /v1/rehost': ['200', '202', '400', '401', '413', '415', '422', '429', '503'],
    };
    for (const [route, statuses] of Object.entries(expected)) expect({ route, statuses: listed[route] }).toEqual({ route, statuses: expect.arrayContaining(statuses) });
  });
});
