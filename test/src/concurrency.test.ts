/**
 * WORKER_CONCURRENCY bounds the jobs in flight across *all* queues of one worker process. BullMQ's
 * own `concurrency` bounds each queue separately, so only jobs of two queues at once can show the
 * process-wide bound: `rehost` url downloads held by an origin, and `finalize-upload` reads of the
 * staging object held by a proxy in front of the S3 server. With the bound at 2 and both queues
 * full, BullMQ alone would let 4 in (2 per queue); the process holds only 2 active (issue 16).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makePng, serviceUrls } from '@rehost/testing';
import { Queue } from 'bullmq';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

const BOUND = 2;

/** Requests held by the origin and the proxy, in arrival order, counted while in flight. */
function holdingPen() {
  const held: { kind: 'download' | 'staging-read'; release: () => void }[] = [];
  const arrived = { download: 0, 'staging-read': 0 };
  let inFlight = 0;
  let maxInFlight = 0;
  const listeners = new Set<() => void>();
  return {
    held,
    arrived,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    /** A request arrived; `done` must be called once when its answer is finished. */
    hold(kind: 'download' | 'staging-read', release: () => void): () => void {
      inFlight++;
      arrived[kind]++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push({ kind, release });
      for (const l of listeners) l();
      let finished = false;
      return () => {
        if (!finished) inFlight--;
        finished = true;
      };
    },
    releaseOne() {
      held.shift()?.release();
    },
    /** Resolves true once `cond()` holds (checked on every arrival), false at the timeout. */
    until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
      return new Promise((resolve) => {
        const check = () => {
          if (!cond()) return;
          finish(true);
        };
        const finish = (ok: boolean) => {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(ok);
        };
        const timer = setTimeout(() => finish(cond()), timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

const pen = holdingPen();
const png = makePng(16, 16);

/** The `url` sources' origin: every download is held until released. */
const origin = http.createServer((_req, res) => {
  const done = pen.hold('download', () => res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png));
  res.on('close', done);
});

/**
 * In front of the S3 server: forwards everything (the signed Host header unchanged; clients use
 * path style), except that GETs of `staging/` objects — only the finalize job reads them — wait
 * until released.
 */
function s3HoldingProxy(target: URL) {
  const agent = new http.Agent({ keepAlive: true });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined, done?: () => void) => {
    const up = http.request(
      { host: target.hostname, port: Number(target.port || 80), method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => done?.());
    if (body) up.end(body);
    else req.pipe(up);
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && /\/staging\//.test(req.url ?? '')) {
      const done = pen.hold('staging-read', () => forward(req, res, Buffer.alloc(0), done));
      return;
    }
    forward(req, res, undefined);
  });
  return { server, agent };
}

let stack: Stack;
let queues: Queue[] = [];
let proxy: ReturnType<typeof s3HoldingProxy>;

const listen = (server: http.Server) =>
  new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
const close = (server: http.Server) => {
  server.closeAllConnections();
  return new Promise((r) => server.close(r));
};

let base: string;

beforeAll(async () => {
  base = await listen(origin);
  proxy = s3HoldingProxy(new URL((await serviceUrls()).s3.endpoint!));
  const s3 = await listen(proxy.server);
  stack = await startStack({
    env: {
      WORKER_CONCURRENCY: String(BOUND),
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      S3_ENDPOINT: s3,
      S3_FORCE_PATH_STYLE: 'true',
    },
  });
  const connection = stack.services.redis.redis;
  queues = ['rehost', 'finalize-upload'].map((name) => new Queue(name, { connection, prefix: stack.services.env.QUEUE_PREFIX }));
});
afterAll(async () => {
  // Nothing may stay held: the stack's shutdown would wait for it.
  while (pen.held.length) pen.releaseOne();
  await Promise.all(queues.map((q) => q.close()));
  await stack?.close();
  await close(origin);
  proxy.agent.destroy();
  await close(proxy.server);
});

describe('WORKER_CONCURRENCY', () => {
  it('bounds the jobs in flight across all queues of one worker process', async () => {
    const n = 3;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: `${base}/img-${i}.png` } } });
      expect(res.status).toBe(202);
      ids.push(res.body.assetId);
    }
    for (let i = 0; i < n; i++) {
      const bytes = makePng(16 + i, 16);
      const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: bytes.length } });
      expect(created.status).toBe(201);
      expect(await putUpload(created.body.upload, bytes)).toBe(200);
      expect((await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST' })).status).toBe(202);
      ids.push(created.body.assetId);
    }

    // BOUND jobs are active and held; the process takes no more (the rest wait, unlocked, for any
    // process: pooled-worker.ts), so BullMQ's active lists hold BOUND, not 2 per queue.
    const activeDeadline = Date.now() + 30_000;
    let active = 0;
    while (Date.now() < activeDeadline) {
      active = (await Promise.all(queues.map((q) => q.getActiveCount()))).reduce((a, b) => a + b, 0);
      if (active >= BOUND && pen.inFlight >= BOUND) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(active).toBe(BOUND);
    // The other active jobs must not reach a source while BOUND are held. A violation shows within
    // milliseconds (the jobs are already taken); the window only bounds how long we look for one.
    const overshot = await pen.until(() => pen.inFlight > BOUND, 2_000);
    expect({ overshot, inFlight: pen.inFlight }).toEqual({ overshot: false, inFlight: BOUND });

    // Release one held request each time BOUND are held (fewer at the end): never more may arrive.
    for (let released = 0; released < 2 * n; released++) {
      const want = Math.min(BOUND, 2 * n - released);
      expect(await pen.until(() => pen.held.length >= want, 30_000)).toBe(true);
      pen.releaseOne();
    }
    const assets = await Promise.all(ids.map((id) => waitTerminal(stack, id)));
    expect(assets.map((a) => a.status)).toEqual(Array(2 * n).fill('ready'));
    expect(pen.arrived).toEqual({ download: n, 'staging-read': n });
    expect(pen.maxInFlight).toBe(BOUND);
  });
});
