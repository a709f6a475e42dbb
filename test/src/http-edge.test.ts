/**
 * A client that trickles its request cannot hold a connection: the whole request must arrive within
 * API_REQUEST_TIMEOUT_MS (headers within API_HEADERS_TIMEOUT_MS), and a reply sent before the body
 * was read (an early 401) closes the connection. 2,000 trickling connections are all closed by the
 * server within the bound while /healthz keeps answering fast.
 *
 * The clients run in a child process (test/src/trickle-clients.ts); each process needs about 2,100
 * file descriptors.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type Stack, startStack } from './stack.js';

// Timings on a machine shared with other test runs: a run disturbed by a neighbour (the event loop
// stalled for seconds by CPU starvation) gets one more try; a real regression fails both.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

const REQUEST_TIMEOUT_MS = 2000;
const HEADERS_TIMEOUT_MS = 1000;
/** Node checks the bounds every min(1 s, timeout / 4); a little slack for a loaded machine on top. */
const CLOSE_BOUND_MS = REQUEST_TIMEOUT_MS + 500 + 1500;
const CONNECTIONS = 2000;

let stack: Stack;
let port: number;

beforeAll(async () => {
  stack = await startStack({
    worker: false,
    env: { API_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), API_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) },
  });
  port = Number(new URL(stack.baseUrl).port);
});
afterAll(async () => {
  await stack?.close();
});

interface Trickler {
  openedAt: number;
  /** Resolves with the time the server closed the connection, and what it had sent. */
  closed: Promise<{ at: number; received: string }>;
  stop(): void;
}

/** Headers announcing a 60,000-byte body, then one byte per `everyMs` until the server closes. */
function trickle(opts: { token?: string; everyMs: number; headersOnly?: boolean }): Trickler {
  const socket = net.connect(port, '127.0.0.1');
  const openedAt = Date.now();
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<{ at: number; received: string }>((resolve) => {
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ at: Date.now(), received: Buffer.concat(chunks).toString('latin1') });
    });
  });
  socket.on('error', () => {
    /* a reset from the server is one way of closing */
  });
  socket.once('connect', () => {
    const auth = opts.token ? `Authorization: Bearer ${opts.token}\r\n` : '';
    if (opts.headersOnly) {
      // Slow headers: the request line, then one header byte at a time.
      socket.write('POST /v1/rehost HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => socket.writable && socket.write('X'), opts.everyMs);
      return;
    }
    socket.write(`POST /v1/rehost HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{`);
    timer = setInterval(() => socket.writable && socket.write(' '), opts.everyMs);
  });
  return { openedAt, closed, stop: () => socket.destroy() };
}

/** A new connection per probe: accept() must keep working too. */
function probeHealthz(): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`healthz ${res.statusCode}`))));
    });
    req.once('timeout', () => req.destroy(new Error('healthz timed out')));
    req.once('error', reject);
  });
}

/** The close, or 'still open' if the server has not closed the connection within `ms`. */
async function closedWithin(t: Trickler, ms: number) {
  const timer = new Promise<'still open'>((r) => setTimeout(r, ms, 'still open').unref());
  const result = await Promise.race([t.closed, timer]);
  t.stop();
  if (result === 'still open') throw new Error(`the server still held the connection after ${ms} ms`);
  return result;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

describe('one trickling connection', () => {
  it('an early 401 closes the connection at once (Connection: close)', async () => {
    const t = trickle({ everyMs: 200 });
    const { at, received } = await closedWithin(t, 10_000);
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(at - t.openedAt).toBeLessThan(1000);
  });

  it('an authenticated one gets a 408 in the error shape once API_REQUEST_TIMEOUT_MS has passed', async () => {
    const t = trickle({ token: stack.token, everyMs: 200 });
    const { at, received } = await closedWithin(t, 10_000);
    const held = at - t.openedAt;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'request_timeout', message: expect.any(String) } });
    expect(held).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(held).toBeLessThan(CLOSE_BOUND_MS);
  });

  it('slow headers are cut off after API_HEADERS_TIMEOUT_MS', async () => {
    const t = trickle({ everyMs: 100, headersOnly: true });
    const { at, received } = await closedWithin(t, 10_000);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(at - t.openedAt).toBeLessThan(HEADERS_TIMEOUT_MS + 1500);
  });

  it('a long-poll longer than the request bound still answers (its request was complete at once)', async () => {
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10 } });
    const started = Date.now();
    const res = await stack.call(`/v1/assets/${created.body.assetId}/wait?timeoutMs=${REQUEST_TIMEOUT_MS + 1000}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('pending_upload');
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS + 900);
  });
});

describe(`${CONNECTIONS} trickling connections`, () => {
  it('are all closed by the server within the bound while /healthz keeps answering (p99 under 500 ms: not starved)', async () => {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (limit !== undefined && Number(limit) < CONNECTIONS + 200) {
      throw new Error(`this test needs ${CONNECTIONS + 200} file descriptors per process; ulimit -n is ${limit}`);
    }

    // The same probes first without the attack: what this machine gives an idle server right now.
    const baseline: number[] = [];
    for (let i = 0; i < 100; i++) {
      baseline.push(await probeHealthz());
      await new Promise((r) => setTimeout(r, 10));
    }

    // The clients run in a child process (an attacker is not in the server's event loop).
    const { NODE_OPTIONS: _vm, ...env } = process.env;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./trickle-clients.ts', import.meta.url)), String(port), String(CONNECTIONS), '1000', stack.token, String(CLOSE_BOUND_MS + 5000)],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const reports: { heldMs: number | null; status: string }[] = [];
    const latencies: number[] = [];
    let probing = true;
    let prober: Promise<void> | undefined;
    const startProbing = () => {
      prober = (async () => {
      while (probing) {
          latencies.push(await probeHealthz());
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    };

    for await (const line of readline.createInterface({ input: child.stdout! })) {
      const report = JSON.parse(line);
      if (report.done) break;
      // /healthz is measured from the moment the clients start connecting.
      if (report.ready) startProbing();
      else reports.push(report);
    }
    probing = false;
    await prober;
    child.kill();

    const held = reports.map((r) => r.heldMs ?? Number.POSITIVE_INFINITY);
    const open = reports.filter((r) => r.heldMs === null).length;
    const statuses: Record<string, number> = {};
    for (const r of reports) statuses[r.status || 'nothing'] = (statuses[r.status || 'nothing'] ?? 0) + 1;
    const figures = {
      connections: reports.length,
      statuses,
      stillOpen: open,
      maxHeldMs: Math.max(...held),
      p99HeldMs: percentile(held, 99),
      healthzProbes: latencies.length,
      healthzP99Ms: Math.round(percentile(latencies, 99) * 10) / 10,
      healthzMaxMs: Math.round(Math.max(...latencies) * 10) / 10,
      idleHealthzP99Ms: Math.round(percentile(baseline, 99) * 10) / 10,
    };
    console.log(`trickle: ${JSON.stringify(figures)}`);
    expect(reports).toHaveLength(CONNECTIONS);
    expect(open).toBe(0);
    expect(figures.maxHeldMs).toBeLessThan(CLOSE_BOUND_MS);
    expect(latencies.length).toBeGreaterThan(50);
    // Not starved: a server whose connections the attack held would answer only as they are let go
    // (seconds). Its latency under this load is a figure of the machine, which the attacker's 2,000
    // connections share on 2 cores with other suites (12 ms idle and 195 ms under the attack were
    // seen on a busy day): a bound of 500 ms tells the two apart; speed targets live in `pnpm bench`.
    expect(figures.healthzP99Ms).toBeLessThan(500);
  }, 60_000);
});

describe('shutting down', () => {
  it('a request arriving on a kept-alive connection after close() began gets 503 unavailable in the error shape', async () => {
    const own = await startStack({ worker: false });
    try {
      const created = await own.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: 10 } });
      const socket = net.connect(Number(new URL(own.baseUrl).port), '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${own.token}\r\n\r\n`;

      // A long-poll in flight keeps the connection busy (so close() does not drop it as idle).
      const received = new Promise<void>((resolve) => own.api.server.once('request', () => resolve()));
      socket.write(head(`/v1/assets/${created.body.assetId}/wait?timeoutMs=1500`));
      await received;
      const closing = own.api.close();
      socket.write(head(`/v1/assets/${created.body.assetId}`));
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('connection not closed within 10 s')), 10_000).unref())]);
      await closing;

      const text = Buffer.concat(chunks).toString('latin1');
      const responses = text.split(/(?=HTTP\/1\.1 )/);
      expect(responses.map((r) => r.split('\r\n', 1)[0])).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 503 Service Unavailable']);
      const second = responses[1]!;
      expect(second.toLowerCase()).toContain('retry-after: 1');
      expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
    } finally {
      await own.close().catch(() => undefined);
    }
  });
});
