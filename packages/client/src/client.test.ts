import { AssetFailedError, NetworkError, RehostApiError, RehostClient, type RetryInfo, WaitTimeoutError } from './index.js';

/** A hand-written fetch: answers from a script and records every request. */
function scriptedFetch(answers: Array<(req: Request) => Response | Promise<Response>>) {
  const seen: Request[] = [];
  const fn = (async (input: string | URL | Request, init?: RequestInit) => {
    const req = new Request(input, init);
    seen.push(req.clone());
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${req.method} ${req.url}`);
    return next(req);
  }) as typeof fetch;
  return { fn, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const refused = () => () => {
  throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
};

const ID = '3f1c1b9e-8a3b-4c55-9a47-0d5f0c3f1a11';
const view = (over: Record<string, unknown> = {}) => ({
  id: ID,
  status: 'ready',
  url: `https://cdn.example/i/${ID}.png`,
  key: `i/${ID}.png`,
  contentType: 'image/png',
  size: 10,
  width: 1,
  height: 1,
  sha256: 'a'.repeat(64),
  source: { type: 'url', url: 'https://img.example/a.png' },
  ownerId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:01.000Z',
  ...over,
});

function client(fetchFn: typeof fetch, retries: string[] = []) {
  return new RehostClient({
    baseUrl: 'https://rehost.example/',
    token: 'secret-token',
    fetch: fetchFn,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    onRetry: (i: RetryInfo) => retries.push(`${i.retry}:${i.status ?? 'network'}:${i.delayMs}`),
  });
}

describe('RehostClient requests', () => {
  it('sends the bearer token and JSON, and parses the answer', async () => {
    const { fn, seen } = scriptedFetch([json(200, view())]);
    const asset = await client(fn).getAsset(ID);
    expect(asset.url).toBe(`https://cdn.example/i/${ID}.png`);
    expect(seen[0]!.url).toBe(`https://rehost.example/v1/assets/${ID}`);
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer secret-token');
  });

  it('retries an enqueue after 503 and a network error with the same idempotency key', async () => {
    const retries: string[] = [];
    const { fn, seen } = scriptedFetch([json(503, { error: { code: 'store_unavailable', message: 'x' } }), refused(), json(202, { assetId: ID, status: 'queued' })]);
    const res = await client(fn, retries).rehostUrl('https://img.example/a.png', { ownerId: 'u1' });
    expect(res).toEqual({ assetId: ID, status: 'queued' });
    const bodies = await Promise.all(seen.map((r) => r.json() as Promise<{ idempotencyKey: string; source: unknown; ownerId: string }>));
    expect(bodies).toHaveLength(3);
    expect(bodies[0]!.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(bodies.map((b) => b.idempotencyKey)).size).toBe(1);
    expect(bodies[0]).toMatchObject({ source: { type: 'url', url: 'https://img.example/a.png' }, ownerId: 'u1' });
    expect(retries.map((r) => r.split(':').slice(0, 2).join(':'))).toEqual(['1:503', '2:network']);
  });

  it('gives every call its own key unless one is given', async () => {
    const { fn, seen } = scriptedFetch([json(202, { assetId: ID, status: 'queued' }), json(202, { assetId: ID, status: 'queued' }), json(202, { assetId: ID, status: 'queued' })]);
    const c = client(fn);
    await c.rehostTelegramFile('f1');
    await c.rehostTelegramFile('f1');
    await c.rehostTelegramFile('f1', { idempotencyKey: 'mine', fileUniqueId: 'u', bot: 'other' });
    const bodies = await Promise.all(seen.map((r) => r.json() as Promise<{ idempotencyKey: string }>));
    expect(bodies[0]!.idempotencyKey).not.toBe(bodies[1]!.idempotencyKey);
    expect(bodies[2]).toMatchObject({ idempotencyKey: 'mine', source: { type: 'telegram', fileId: 'f1', fileUniqueId: 'u', bot: 'other' } });
  });

  it('honours Retry-After on 429', async () => {
    const retries: string[] = [];
    const { fn } = scriptedFetch([json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'retry-after': '1' }), json(200, view())]);
    const started = Date.now();
    await client(fn, retries).getAsset(ID);
    expect(retries).toEqual(['1:429:1000']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('does not retry a 4xx, and throws the API error with its code', async () => {
    const { fn, seen } = scriptedFetch([json(400, { error: { code: 'url_not_allowed', message: 'host not allowed' } })]);
    const err = await client(fn).rehostUrl('https://evil.example/x.png').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RehostApiError);
    expect(err).toMatchObject({ status: 400, code: 'url_not_allowed', message: 'host not allowed' });
    expect(seen).toHaveLength(1);
  });

  it('gives up after `retries` and reports the last failure', async () => {
    const { fn, seen } = scriptedFetch([refused(), refused(), refused(), refused()]);
    const err = await client(fn).getAsset(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe('network_error');
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect((err as Error).message).not.toContain('secret-token');
    expect(seen).toHaveLength(4);
  });

  it('treats a 404 on a retried DELETE as done', async () => {
    const { fn } = scriptedFetch([json(502, {}), json(404, { error: { code: 'not_found', message: 'asset not found' } })]);
    await expect(client(fn).deleteAsset(ID)).resolves.toBeUndefined();
    const first404 = scriptedFetch([json(404, { error: { code: 'not_found', message: 'asset not found' } })]);
    await expect(client(first404.fn).deleteAsset(ID)).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });

  it('refuses an answer that is not what the API documents', async () => {
    const { fn } = scriptedFetch([json(200, { id: ID, status: 'weird' })]);
    await expect(client(fn).getAsset(ID)).rejects.toMatchObject({ code: 'bad_response' });
  });
});

describe('waiting', () => {
  it('with wait: true resolves with the ready asset after long-polls', async () => {
    const { fn, seen } = scriptedFetch([json(202, { assetId: ID, status: 'queued' }), json(200, view({ status: 'processing', url: undefined })), json(200, view())]);
    const asset = await client(fn).rehostUrl('https://img.example/a.png', { wait: true, timeoutMs: 10_000 });
    expect(asset.status).toBe('ready');
    expect(seen.map((r) => new URL(r.url).pathname)).toEqual(['/v1/rehost', `/v1/assets/${ID}/wait`, `/v1/assets/${ID}/wait`]);
    expect(Number(new URL(seen[1]!.url).searchParams.get('timeoutMs'))).toBeLessThanOrEqual(10_000);
  });

  it('with wait: true rejects with AssetFailedError carrying the code', async () => {
    const failed = view({ status: 'failed', url: undefined, key: null, error: { code: 'not_an_image', message: 'not an image' } });
    const { fn } = scriptedFetch([json(202, { assetId: ID, status: 'queued' }), json(200, failed)]);
    const err = await client(fn).rehostTelegramFile('f', { wait: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssetFailedError);
    expect(err).toMatchObject({ code: 'not_an_image', assetId: ID, message: 'not an image' });
  });

  it('settles at once when the server answers with an existing terminal asset', async () => {
    const { fn, seen } = scriptedFetch([json(200, { assetId: ID, ...view() })]);
    const asset = await client(fn).rehostTelegramFile('f', { wait: true, fileUniqueId: 'u' });
    expect(asset.id).toBe(ID);
    expect(seen).toHaveLength(1);
  });

  it('times out with WaitTimeoutError when the server keeps answering "processing"', async () => {
    const processing = view({ status: 'processing', url: undefined });
    const slow = (req: Request) =>
      new Promise<Response>((resolve) => {
        const ms = Number(new URL(req.url).searchParams.get('timeoutMs'));
        setTimeout(() => resolve(json(200, processing)()), ms);
      });
    const { fn } = scriptedFetch([slow, slow, slow, slow]);
    const err = await client(fn).waitForAsset(ID, { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err).toMatchObject({ code: 'wait_timeout', assetId: ID, timeoutMs: 150, lastStatus: 'processing' });
  });

  it('stops when the caller aborts', async () => {
    const hang = (req: Request) =>
      new Promise<Response>((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));
    const { fn } = scriptedFetch([hang]);
    const abort = new AbortController();
    const waiting = client(fn).waitForAsset(ID, { timeoutMs: 10_000, signal: abort.signal });
    abort.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
  });
});
