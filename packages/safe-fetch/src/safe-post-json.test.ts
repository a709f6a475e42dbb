import type { IncomingHttpHeaders } from 'node:http';
import { type SafePostOptions, safePostJson } from './safe-fetch.js';
import { freePort, rejectionOf, startHttpServer, type TestServer, writeForever } from './test-servers.js';

let receiver: TestServer;
const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
let endless: Promise<number> | undefined;

beforeAll(async () => {
  receiver = await startHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const [, route, arg] = path.split('/');
      if (route === 'status') res.writeHead(Number(arg)).end('{"ok":false}');
      else if (route === 'redirect') res.writeHead(307, { location: '/status/200' }).end();
      else if (route === 'stall-headers') return;
      else if (route === 'stall-body') res.writeHead(202).write('{');
      else if (route === 'endless') {
        res.writeHead(200);
        endless = writeForever(res, Buffer.alloc(16 * 1024, 1));
      } else res.writeHead(204).end();
    });
  });
});

afterAll(() => receiver.close());

const opts: SafePostOptions = { allowedHosts: [], trustedPrivateHosts: ['127.0.0.1'] };
const body = JSON.stringify({ assetId: 'a1', status: 'stored' });

describe('safePostJson', () => {
  it('posts the JSON body with the given headers and returns the status', async () => {
    const { status } = await safePostJson(receiver.url('/hook?token=t'), body, { 'X-Rehost-Signature': 'sha256=abc' }, opts);
    expect(status).toBe(204);
    expect(received.at(-1)).toMatchObject({
      path: '/hook?token=t',
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'x-rehost-signature': 'sha256=abc',
      },
    });
  });

  it.each([404, 410, 500, 503])('returns HTTP %i as a status, not an error', async (code) => {
    await expect(safePostJson(receiver.url(`/status/${code}`), body, {}, opts)).resolves.toEqual({ status: code });
  });

  it('does not follow redirects', async () => {
    const count = received.length;
    await expect(safePostJson(receiver.url('/redirect'), body, {}, opts)).resolves.toEqual({ status: 307 });
    expect(received.length).toBe(count + 1);
  });

  it.each([
    ['a loopback literal', (port: number) => `http://127.0.0.1:${port}/hook`, /the host is a loopback address/],
    ['a name resolving to loopback', (port: number) => `http://localhost:${port}/hook`, /resolves to a loopback address/],
    ['a mapped loopback literal', (port: number) => `http://[::ffff:7f00:1]:${port}/hook`, /loopback address/],
  ])('refuses %s without connecting', async (_what, url, reason) => {
    const before = receiver.connections;
    const err = await rejectionOf(safePostJson(url(receiver.port), body, {}, { allowedHosts: [] }));
    expect(err).toMatchObject({ code: 'url_not_allowed', permanent: true });
    expect(err.message).toMatch(reason);
    expect(receiver.connections).toBe(before);
  });

  it('enforces a non-empty allowlist', async () => {
    const err = await rejectionOf(safePostJson(receiver.url('/hook'), body, {}, { ...opts, allowedHosts: ['hooks.example'] }));
    expect(err.message).toMatch(/not in the allowed hosts/);
  });

  it('throws a retryable error when nothing answers', async () => {
    const port = await freePort();
    const err = await rejectionOf(safePostJson(`http://127.0.0.1:${port}/hook`, body, {}, opts));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    const stalled = await rejectionOf(safePostJson(receiver.url('/stall-headers'), body, {}, { ...opts, idleTimeoutMs: 300 }));
    expect(stalled).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(stalled.message).toBe(`${receiver.url('/stall-headers')} sent nothing for 300 ms`);
  });

  it('reads at most maxResponseBytes of the answer, then closes the connection', async () => {
    const { status } = await safePostJson(receiver.url('/endless'), body, {}, { ...opts, maxResponseBytes: 1000 });
    expect(status).toBe(200);
    await expect(endless).resolves.toBeGreaterThan(0);
  }, 10_000);

  it('returns the status even if the answer body then stalls', async () => {
    await expect(safePostJson(receiver.url('/stall-body'), body, {}, { ...opts, idleTimeoutMs: 300 })).resolves.toEqual({
      status: 202,
    });
  });
});
