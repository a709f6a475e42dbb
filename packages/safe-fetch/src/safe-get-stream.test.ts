import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Resolver } from './guarded-lookup.js';
import { checkUrl, type SafeFetchOptions, safeGetStream } from './safe-fetch.js';
import {
  freePort,
  readAll,
  rejectionOf,
  startHttpServer,
  startHttpsServer,
  startRawServer,
  type TestServer,
  trustTestCertificate,
  writeForever,
} from './test-servers.js';

const MiB = 1024 * 1024;
const PAYLOAD = randomBytes(MiB);

/** Names → addresses, for tests that need a name; anything else is ENOTFOUND. */
const resolver =
  (table: Record<string, string>): Resolver =>
  async (hostname) => {
    const address = table[hostname];
    if (!address) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };

let origin: TestServer;
const hits = new Map<string, number>();
const hitsOf = (path: string) => hits.get(path) ?? 0;
/** Server side of the endless responses: resolves when the client has gone away. */
let endless: Promise<number> | undefined;
let declaredClosed: Promise<void> | undefined;

beforeAll(async () => {
  origin = await startHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, hitsOf(url.pathname) + 1);
    const [, route, arg] = url.pathname.split('/');
    switch (route) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < PAYLOAD.length; i += 64 * 1024) res.write(PAYLOAD.subarray(i, i + 64 * 1024));
        res.end();
        return;
      case 'ok-length':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': PAYLOAD.length });
        res.end(PAYLOAD);
        return;
      case 'bytes': // exactly arg bytes, chunked
        res.writeHead(200);
        res.end(Buffer.alloc(Number(arg), 1));
        return;
      case 'redirect': {
        const n = Number(arg);
        res.writeHead(302, { location: n > 0 ? `/redirect/${n - 1}` : '/ok' }).end();
        return;
      }
      case 'to':
        res.writeHead(307, { location: url.searchParams.get('loc') ?? '/' }).end();
        return;
      case 'status':
        res.writeHead(Number(arg), Number(arg) === 429 ? { 'retry-after': '7' } : {}).end('no');
        return;
      case 'endless':
        res.writeHead(200, { 'content-type': 'image/png' });
        endless = writeForever(res, Buffer.alloc(16 * 1024, 2));
        return;
      case 'declared-huge':
        res.writeHead(200, { 'content-length': String(100 * MiB) });
        res.flushHeaders();
        // No body byte is sent: the client must give up on the header alone.
        declaredClosed = new Promise((resolve) => res.on('close', resolve));
        return;
      case 'truncated':
        res.writeHead(200, { 'content-length': '100' });
        res.write(Buffer.alloc(50), () => res.socket?.destroy());
        return;
      case 'stall-body':
        res.writeHead(200);
        res.write('0123456789');
        return;
      case 'stall-headers':
        return;
      case 'drip':
        res.writeHead(200);
        drip(res);
        return;
      default:
        res.writeHead(404).end();
    }
  });
});

afterAll(() => origin.close());

function drip(res: ServerResponse) {
  const timer = setInterval(() => res.write('x'), 50);
  res.on('close', () => clearInterval(timer));
}

const trusted: SafeFetchOptions = { allowedHosts: [], trustedPrivateHosts: ['127.0.0.1'], maxBytes: 10 * MiB };

describe('safeGetStream: addresses are refused before anything is contacted', () => {
  const forms = (port: number) => [
    `http://127.0.0.1:${port}/ok`,
    `http://2130706433:${port}/ok`,
    `http://0x7f000001:${port}/ok`,
    `http://0177.0.0.1:${port}/ok`,
    `http://127.1:${port}/ok`,
    `http://[::1]:${port}/ok`,
    `http://[::ffff:7f00:1]:${port}/ok`,
    `http://[::ffff:127.0.0.1]:${port}/ok`,
    `http://0.0.0.0:${port}/ok`,
    `http://0:${port}/ok`,
    `http://[::]:${port}/ok`,
    `http://localhost:${port}/ok`,
    `http://LocalHost:${port}/ok`,
  ];

  it('control: every one of these forms does reach the local server when its host is trusted', async () => {
    for (const url of forms(origin.port)) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const before = origin.connections;
      const { stream } = await safeGetStream(url, { ...trusted, trustedPrivateHosts: [host] });
      expect((await readAll(stream)).length).toBe(PAYLOAD.length);
      expect(origin.connections).toBe(before + 1);
    }
  });

  it('refuses each form, and the server sees no connection', async () => {
    const before = origin.connections;
    for (const url of forms(origin.port)) {
      const err = await rejectionOf(safeGetStream(`${url}?token=SECRET`, { allowedHosts: [], maxBytes: MiB }));
      expect(err).toMatchObject({ code: 'url_not_allowed', permanent: true });
      expect(err.message).toMatch(/is not allowed: the host (is|resolves to) an? (loopback|unspecified) address$/);
      expect(err.message).not.toContain('SECRET');
    }
    expect(origin.connections).toBe(before);
  });

  it('refuses a name that turns private between validation and connection (DNS rebinding)', async () => {
    let answers = 0;
    const rebinding: Resolver = async () => [{ address: answers++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    const url = `http://rebind.example:${origin.port}/ok`;
    await expect(checkUrl(url, { allowedHosts: [], resolve: rebinding })).resolves.toBeUndefined();
    const before = origin.connections;
    const err = await rejectionOf(safeGetStream(url, { allowedHosts: [], maxBytes: MiB, resolve: rebinding }));
    expect(err.message).toBe(`http://rebind.example:${origin.port}/ok is not allowed: the host resolves to a loopback address`);
    expect(answers).toBe(2);
    expect(origin.connections).toBe(before);
  });

  it('never reuses a connection a trusted call opened', async () => {
    const url = `http://pool.example:${origin.port}/ok`;
    const resolve = resolver({ 'pool.example': '127.0.0.1' });
    const first = await safeGetStream(url, { ...trusted, trustedPrivateHosts: ['pool.example'], resolve });
    await readAll(first.stream);
    const before = origin.connections;
    const err = await rejectionOf(safeGetStream(url, { allowedHosts: [], maxBytes: MiB, resolve }));
    expect(err.message).toMatch(/resolves to a loopback address$/);
    expect(origin.connections).toBe(before);
  });

  it('connects to exactly the address its lookup answered', async () => {
    const { stream, finalUrl } = await safeGetStream(`http://img.example:${origin.port}/ok?x=1`, {
      ...trusted,
      trustedPrivateHosts: ['img.example'],
      resolve: resolver({ 'img.example': '127.0.0.1' }),
    });
    expect(finalUrl).toBe(`http://img.example:${origin.port}/ok?x=1`);
    expect((await readAll(stream)).equals(PAYLOAD)).toBe(true);
  });
});

describe('safeGetStream: host allowlist', () => {
  it('refuses a host outside a non-empty allowlist, even a trusted one, without connecting', async () => {
    const before = origin.connections;
    const err = await rejectionOf(safeGetStream(origin.url('/ok'), { ...trusted, allowedHosts: ['images.example'] }));
    expect(err.message).toMatch(/host 127\.0\.0\.1 is not in the allowed hosts/);
    expect(origin.connections).toBe(before);
  });

  it('accepts subdomains through a *. pattern', async () => {
    const opts = {
      ...trusted,
      allowedHosts: ['*.rehost.test'],
      trustedPrivateHosts: ['*.rehost.test'],
      resolve: resolver({ 'cdn.rehost.test': '127.0.0.1', 'rehost.test': '127.0.0.1' }),
    };
    const { stream } = await safeGetStream(`http://cdn.rehost.test:${origin.port}/ok`, opts);
    expect((await readAll(stream)).length).toBe(PAYLOAD.length);
    const err = await rejectionOf(safeGetStream(`http://rehost.test:${origin.port}/ok`, opts));
    expect(err.message).toMatch(/not in the allowed hosts/);
  });
});

describe('safeGetStream: redirects', () => {
  it('follows up to 3 redirects (relative Locations resolved) and reports the final URL', async () => {
    const { stream, finalUrl } = await safeGetStream(origin.url('/redirect/2'), trusted);
    expect(finalUrl).toBe(origin.url('/ok'));
    expect((await readAll(stream)).equals(PAYLOAD)).toBe(true);
    expect(hitsOf('/redirect/0')).toBeGreaterThan(0);
  });

  it('refuses a 4th redirect without requesting its target', async () => {
    const before = { last: hitsOf('/redirect/0'), target: hitsOf('/ok') };
    const err = await rejectionOf(safeGetStream(origin.url('/redirect/3'), trusted));
    expect(err).toMatchObject({ code: 'url_not_allowed', permanent: true });
    expect(err.message).toBe(`${origin.url('/redirect/0')} is not allowed: more than 3 redirects`);
    expect(hitsOf('/redirect/0')).toBe(before.last + 1);
    expect(hitsOf('/ok')).toBe(before.target);
  });

  it('honours maxRedirects', async () => {
    const err = await rejectionOf(safeGetStream(origin.url('/redirect/0'), { ...trusted, maxRedirects: 0 }));
    expect(err.message).toMatch(/more than 0 redirects$/);
  });

  it('re-checks the host allowlist on every hop', async () => {
    const loc = `http://other.test:${origin.port}/ok`;
    const opts = {
      ...trusted,
      allowedHosts: ['127.0.0.1'],
      trustedPrivateHosts: ['127.0.0.1', 'other.test'],
      resolve: resolver({ 'other.test': '127.0.0.1' }),
    };
    const start = origin.url(`/to?loc=${encodeURIComponent(loc)}`);
    const before = hitsOf('/ok');
    const err = await rejectionOf(safeGetStream(start, opts));
    expect(err.message).toBe(`http://other.test:${origin.port}/ok is not allowed: host other.test is not in the allowed hosts`);
    expect(hitsOf('/ok')).toBe(before);
    // Control: allowed, the very same redirect is followed.
    const { stream } = await safeGetStream(start, { ...opts, allowedHosts: ['127.0.0.1', 'other.test'] });
    expect((await readAll(stream)).length).toBe(PAYLOAD.length);
  });

  it.each([
    ['an IP literal', (port: number) => `http://127.0.0.1:${port}/ok`, /the host is a loopback address/],
    ['an IP literal in decimal', (port: number) => `http://2130706433:${port}/ok`, /the host is a loopback address/],
    ['a name resolving to loopback', (port: number) => `http://localhost:${port}/ok`, /resolves to a loopback address/],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/', /link-local address/],
    ['a non-http scheme', () => 'file:///etc/passwd', /only http and https/],
    ['a URL with credentials', (port: number) => `http://u:p@127.0.0.1:${port}/ok`, /credentials/],
  ])('refuses a redirect to %s', async (_what, location, reason) => {
    // The first hop is a trusted name; the hop it redirects to is not trusted.
    const opts = {
      ...trusted,
      trustedPrivateHosts: ['start.test'],
      resolve: resolver({ 'start.test': '127.0.0.1', localhost: '127.0.0.1' }),
    };
    const start = `http://start.test:${origin.port}/to?loc=${encodeURIComponent(location(origin.port))}`;
    const before = hitsOf('/ok');
    const err = await rejectionOf(safeGetStream(start, opts));
    expect(err.code).toBe('url_not_allowed');
    expect(err.message).toMatch(reason);
    expect(hitsOf('/ok')).toBe(before);
  });
});

describe('safeGetStream: byte limit', () => {
  it('cuts off a chunked body with no Content-Length as soon as it passes maxBytes', async () => {
    const maxBytes = 256 * 1024;
    const { stream, contentLength } = await safeGetStream(origin.url('/endless'), { ...trusted, maxBytes });
    expect(contentLength).toBeUndefined();
    let received = 0;
    stream.on('data', (c: Buffer) => (received += c.length));
    const err = await rejectionOf(readAll(stream));
    expect(err).toMatchObject({ code: 'too_large', permanent: true });
    expect(err.message).toBe(`${origin.url('/endless')} sent more than the limit of ${maxBytes} bytes`);
    expect(received).toBeLessThanOrEqual(maxBytes);
    // The server's endless write loop ends only when the connection is gone.
    await expect(endless).resolves.toBeGreaterThan(maxBytes);
  }, 10_000);

  it('cuts off a close-delimited body (no length, no chunking)', async () => {
    let serverDone!: Promise<number>;
    const raw = await startRawServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
        serverDone = writeForever(socket, Buffer.alloc(16 * 1024, 3));
      });
    });
    try {
      const { stream } = await safeGetStream(raw.url('/x'), { ...trusted, maxBytes: 100_000 });
      expect((await rejectionOf(readAll(stream))).code).toBe('too_large');
      await expect(serverDone).resolves.toBeGreaterThan(100_000);
    } finally {
      await raw.close();
    }
  }, 10_000);

  it('refuses a declared Content-Length over the limit before any body byte', async () => {
    const err = await rejectionOf(safeGetStream(origin.url('/declared-huge'), { ...trusted, maxBytes: MiB }));
    expect(err).toMatchObject({ code: 'too_large', permanent: true });
    expect(err.message).toMatch(/declares 104857600 bytes, more than the limit of 1048576 bytes$/);
    await expect(declaredClosed).resolves.toBeUndefined();
  });

  it('accepts exactly maxBytes and refuses one byte more', async () => {
    const ok = await safeGetStream(origin.url('/bytes/5000'), { ...trusted, maxBytes: 5000 });
    expect((await readAll(ok.stream)).length).toBe(5000);
    const over = await safeGetStream(origin.url('/bytes/5001'), { ...trusted, maxBytes: 5000 });
    expect((await rejectionOf(readAll(over.stream))).code).toBe('too_large');
  });

  it('reports a body shorter than its Content-Length as a retryable failure', async () => {
    const { stream, contentLength } = await safeGetStream(origin.url('/truncated'), trusted);
    expect(contentLength).toBe(100);
    const err = await rejectionOf(readAll(stream));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(err.message).toMatch(/closed the connection before the body was complete/);
  });
});

describe('safeGetStream: timeouts', () => {
  it('fails a body that stalls after the headers (idle timeout)', async () => {
    const { stream } = await safeGetStream(origin.url('/stall-body'), { ...trusted, idleTimeoutMs: 300 });
    const started = Date.now();
    const err = await rejectionOf(readAll(stream));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(err.message).toBe(`${origin.url('/stall-body')} sent nothing for 300 ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('fails a server that never sends headers (idle timeout)', async () => {
    const err = await rejectionOf(safeGetStream(origin.url('/stall-headers'), { ...trusted, idleTimeoutMs: 300 }));
    expect(err.message).toBe(`${origin.url('/stall-headers')} sent nothing for 300 ms`);
  });

  it('does not count time the caller spends not reading', async () => {
    const { stream } = await safeGetStream(origin.url('/ok-length'), { ...trusted, idleTimeoutMs: 200 });
    const it = stream[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    // A slow consumer (backpressure): three idle periods without reading.
    await new Promise((resolve) => setTimeout(resolve, 600));
    let total = first.length;
    for (let r = await it.next(); !r.done; r = await it.next()) total += (r.value as Buffer).length;
    expect(total).toBe(PAYLOAD.length);
  });

  it('fails a lookup that never answers (connect timeout)', async () => {
    const never: Resolver = () => new Promise(() => {});
    const err = await rejectionOf(
      safeGetStream(`http://slow-dns.test:${origin.port}/ok`, { ...trusted, resolve: never, connectTimeoutMs: 300 }),
    );
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(err.message).toBe(`could not connect to http://slow-dns.test:${origin.port}/ok within 300 ms`);
  });

  it('fails a TLS handshake that never completes (connect timeout)', async () => {
    const silent = await startRawServer(() => {});
    try {
      const url = `https://127.0.0.1:${silent.port}/x`;
      const err = await rejectionOf(safeGetStream(url, { ...trusted, connectTimeoutMs: 300, idleTimeoutMs: 10_000 }));
      expect(err.message).toBe(`could not connect to ${url} within 300 ms`);
      expect(silent.connections).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('fails a body that trickles past the total timeout', async () => {
    const { stream } = await safeGetStream(origin.url('/drip'), { ...trusted, idleTimeoutMs: 1000, totalTimeoutMs: 500 });
    const err = await rejectionOf(readAll(stream));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(err.message).toBe(`${origin.url('/drip')} did not finish within 500 ms`);
  });

  it('reports a refused connection as retryable', async () => {
    const port = await freePort();
    const err = await rejectionOf(safeGetStream(`http://127.0.0.1:${port}/x`, trusted));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false });
    expect(err.message).toBe(`request to http://127.0.0.1:${port}/x failed (ECONNREFUSED)`);
  });
});

describe('safeGetStream: https', () => {
  let tlsOrigin: TestServer;
  beforeAll(async () => {
    tlsOrigin = await startHttpsServer((_req, res) => {
      // Headers come later than connectTimeoutMs below: the connect timer must stop at the handshake.
      setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(PAYLOAD), 500);
    });
  });
  afterAll(() => tlsOrigin.close());

  const opts = (resolve: Resolver): SafeFetchOptions => ({
    ...trusted,
    trustedPrivateHosts: ['tls.test', 'wrong.test'],
    resolve,
    connectTimeoutMs: 300,
  });
  const dns = resolver({ 'tls.test': '127.0.0.1', 'wrong.test': '127.0.0.1' });

  it('verifies certificates: an untrusted one is refused', async () => {
    const err = await rejectionOf(safeGetStream(`https://tls.test:${tlsOrigin.port}/a.png`, opts(dns)));
    expect(err).toMatchObject({ code: 'source_unavailable' });
    expect(err.message).toMatch(/failed \((SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)\)$/);
  });

  it('streams over TLS, checking the certificate against the URL host (not the resolved IP)', async () => {
    const untrust = trustTestCertificate();
    try {
      const res = await safeGetStream(`https://tls.test:${tlsOrigin.port}/a.png`, opts(dns));
      expect((await readAll(res.stream)).equals(PAYLOAD)).toBe(true);
      const err = await rejectionOf(safeGetStream(`https://wrong.test:${tlsOrigin.port}/a.png`, opts(dns)));
      expect(err.message).toMatch(/failed \(ERR_TLS_CERT_ALTNAME_INVALID\)$/);
    } finally {
      untrust();
    }
  });
});

describe('safeGetStream: origin statuses', () => {
  it.each([
    [404, true],
    [410, true],
    [403, true],
    [400, true],
    [500, false],
    [503, false],
    [408, false],
  ])('HTTP %i is source_unavailable, permanent: %s', async (status, permanent) => {
    const err = await rejectionOf(safeGetStream(origin.url(`/status/${status}?sig=SECRET`), trusted));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent });
    expect(err.message).toBe(`${origin.url(`/status/${status}`)} answered HTTP ${status}`);
  });

  it('passes Retry-After of a 429 on', async () => {
    const err = await rejectionOf(safeGetStream(origin.url('/status/429'), trusted));
    expect(err).toMatchObject({ code: 'source_unavailable', permanent: false, retryAfterSeconds: 7 });
  });
});

describe('safeGetStream: streaming', () => {
  it('streams a chunked body intact with its content type', async () => {
    const res = await safeGetStream(origin.url('/ok'), trusted);
    expect(res).toMatchObject({ finalUrl: origin.url('/ok'), contentType: 'image/png', contentLength: undefined });
    expect((await readAll(res.stream)).equals(PAYLOAD)).toBe(true);
  });

  it('reports a declared Content-Length', async () => {
    const res = await safeGetStream(origin.url('/ok-length'), trusted);
    expect(res.contentLength).toBe(PAYLOAD.length);
    expect((await readAll(res.stream)).equals(PAYLOAD)).toBe(true);
  });

  it('destroys the body with the reason when the caller aborts', async () => {
    const ctl = new AbortController();
    const { stream } = await safeGetStream(origin.url('/endless'), { ...trusted, signal: ctl.signal });
    const reason = new Error('job cancelled');
    stream.once('data', () => ctl.abort(reason));
    await expect(readAll(stream)).rejects.toBe(reason);
    await expect(endless).resolves.toBeGreaterThan(0);
  });

  it('destroys a body nobody reads yet without an uncaught error', async () => {
    const ctl = new AbortController();
    const { stream } = await safeGetStream(origin.url('/endless'), { ...trusted, signal: ctl.signal });
    const reason = new Error('job cancelled');
    const closed = new Promise((resolve) => stream.once('close', resolve));
    ctl.abort(reason);
    await closed;
    expect(stream.errored).toBe(reason);
    await expect(endless).resolves.toBeGreaterThan(0);
  });

  it('rejects at once when the signal is already aborted, without connecting', async () => {
    const before = origin.connections;
    const reason = new Error('shutting down');
    await expect(safeGetStream(origin.url('/ok'), { ...trusted, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(origin.connections).toBe(before);
  });
});
