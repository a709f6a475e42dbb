/**
 * Shutdown and crash behaviour of real processes:
 * - SIGTERM to a worker with a job in flight: the job finishes, then the process exits 0.
 * - SIGKILL mid-upload: a second worker retakes the stalled job and completes it, and no
 *   multipart upload is left dangling.
 * - SIGTERM to the API with a request in flight: it is answered, then the process exits 0.
 * - SIGTERM to a worker whose job hangs on a store that stopped answering: it exits within
 *   WORKER_SHUTDOWN_GRACE_MS plus a few seconds, and another worker finishes the job.
 * The in-flight job is a Telegram download from the Bot API double whose body we hold back
 * until the test says so.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, makePngOfSize, sha256, startBotApiDouble } from '@rehost/testing';
import { publicKeyPrefixFor } from '@rehost/storage';
import { putUpload, waitTerminal } from './helpers.js';
import { freePort, startApp, stopAllApps, workerStarted, apiListening } from './processes.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let bot: BotApiDouble;
let workerEnv: Record<string, string>;

beforeAll(async () => {
  bot = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024 });
  // The API in-process; workers only as child processes.
  stack = await startStack({ worker: false, env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl } });
  workerEnv = {
    ...stack.services.env,
    LOG_LEVEL: 'info',
    WORKER_METRICS_PORT: '0',
    TELEGRAM_BOT_TOKEN: bot.token,
    TELEGRAM_API_BASE_URL: bot.baseUrl,
    // A killed worker's job is retaken after about a lock duration.
    WORKER_LOCK_DURATION_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
  };
});
afterAll(async () => {
  await stopAllApps();
  await stack?.close();
  await bot?.close();
});

/**
 * A file whose first download sends `holdAfter` bytes and then waits for `release()`;
 * later downloads (a retry) stream at once. `started` resolves when the first download
 * has sent its first part.
 */
function heldFile(fileId: string, bytes: Buffer, holdAfter: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  let downloads = 0;
  bot.addFile({
    fileId,
    fileUniqueId: `${fileId}-uniq`,
    size: bytes.length,
    body: () => {
      downloads += 1;
      if (downloads > 1) return Readable.from([bytes]);
      let step = 0;
      return new Readable({
        read() {
          if (step === 0) {
            step = 1;
            this.push(bytes.subarray(0, holdAfter));
            markStarted();
          } else if (step === 1) {
            step = 2;
            void released.then(() => {
              this.push(bytes.subarray(holdAfter));
              this.push(null);
            });
          }
        },
      });
    },
  });
  return { started, release, downloads: () => downloads };
}

async function rehost(fileId: string): Promise<string> {
  const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId } } });
  expect(res.status).toBe(202);
  return res.body.assetId as string;
}

describe('worker SIGTERM', () => {
  it('lets the running job finish, then exits 0', async () => {
    const bytes = makePng(120, 120);
    const file = heldFile('sigterm-file', bytes, 1024);
    const worker = startApp('worker', workerEnv);
    await worker.waitForLine(workerStarted);
    const assetId = await rehost('sigterm-file');
    await file.started; // the job is downloading, and stuck until released

    worker.kill('SIGTERM');
    await worker.waitForLine((l) => l.msg === 'shutting down: finishing running jobs');
    // Still running: it is waiting for the job, not gone.
    expect(worker.child.exitCode).toBeNull();
    expect((await stack.call(`/v1/assets/${assetId}`)).body.status).toBe('processing');

    file.release();
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const asset = (await stack.call(`/v1/assets/${assetId}`)).body;
    expect(asset).toMatchObject({ status: 'ready', size: bytes.length, sha256: sha256(bytes) });
    expect(file.downloads()).toBe(1); // finished by the same worker, not retried elsewhere
    expect(worker.lines.some((l) => l.msg === 'worker stopped')).toBe(true);
  });
});

/**
 * A TCP proxy in front of the S3 server that can turn into a black hole: after `silence()` it
 * forwards nothing more either way (open connections and new ones are held, their bytes swallowed),
 * as a store that stopped answering. `heard(n)` resolves once n connections sent a request into the hole.
 */
async function startSilenceableProxy(target: { host: string; port: number }) {
  let silent = false;
  const talking = new Set<net.Socket>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<net.Socket>();
  const swallow = (client: net.Socket) => {
    client.on('data', () => {
      talking.add(client);
      for (const w of waiters.filter((w) => talking.size >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    client.resume();
  };
  const pairs = new Map<net.Socket, net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    if (silent) return swallow(client);
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.set(client, upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    heard: (n: number) => (talking.size >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    silence() {
      silent = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        upstream.pause();
        swallow(client);
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('worker SIGTERM while the store does not answer', () => {
  it('exits within WORKER_SHUTDOWN_GRACE_MS plus a few seconds; another worker finishes the jobs', async () => {
    const s3 = new URL(stack.services.env.S3_ENDPOINT!);
    const proxy = await startSilenceableProxy({ host: s3.hostname, port: Number(s3.port) });
    const graceMs = 2000;
    try {
      const bytes = makePng(90, 60);
      bot.addFile({ fileId: 'silent-store-file', fileUniqueId: 'silent-store-uniq', bytes });
      // A web upload, PUT straight to the store (the API signs for it, not for the proxy).
      const png = makePng(70, 50);
      const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
      expect(created.status).toBe(201);
      const uploadId = created.body.assetId as string;
      expect(await putUpload(created.body.upload, png)).toBe(200);

      const worker = startApp('worker', { ...workerEnv, S3_ENDPOINT: proxy.url, WORKER_SHUTDOWN_GRACE_MS: String(graceMs) });
      await worker.waitForLine(workerStarted);
      proxy.silence();
      // Two jobs stuck in the store: a rehost's upload (it aborts on its signal) and a finalize's
      // HEAD (it takes no signal: only not waiting for it bounds the shutdown).
      const assetId = await rehost('silent-store-file');
      expect((await stack.call(`/v1/uploads/${uploadId}/complete`, { method: 'POST' })).status).toBe(202);
      await proxy.heard(2);

      const sent = Date.now();
      worker.kill('SIGTERM');
      const bound = graceMs + 5000;
      const outcome = await Promise.race([
        worker.exited,
        new Promise<'still running'>((r) => setTimeout(() => r('still running'), bound + 5000).unref()),
      ]);
      const tookMs = Date.now() - sent;
      expect(outcome).toEqual({ code: 0, signal: null });
      expect(tookMs).toBeLessThan(bound);
      expect(worker.lines.some((l) => l.msg === 'jobs still running at shutdown; leaving them to stalled-job recovery')).toBe(true);
      // The jobs were neither finished nor failed by the shutdown: their assets wait for another worker.
      expect((await stack.call(`/v1/assets/${assetId}`)).body.status).toBe('processing');
      expect((await stack.call(`/v1/assets/${uploadId}`)).body.status).toBe('processing');

      const second = startApp('worker', workerEnv);
      await second.waitForLine(workerStarted);
      const asset = await waitTerminal(stack, assetId, 60_000);
      expect(asset).toMatchObject({ status: 'ready', size: bytes.length, sha256: sha256(bytes) });
      expect(await waitTerminal(stack, uploadId, 60_000)).toMatchObject({ status: 'ready', sha256: sha256(png) });
      await second.stop();
      process.stdout.write(`worker exited ${tookMs} ms after SIGTERM (grace ${graceMs} ms)\n`);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('worker SIGKILL mid-job', () => {
  it('a second worker retakes the stalled job; it completes and leaves no multipart upload', async () => {
    // Over one 5 MiB part, held after the first part, so a multipart upload is open when killed.
    const bytes = makePngOfSize(8 * 1024 * 1024);
    const file = heldFile('sigkill-file', bytes, 6 * 1024 * 1024);
    const store = stack.services.bucket.store;
    const first = startApp('worker', workerEnv);
    await first.waitForLine(workerStarted);
    const assetId = await rehost('sigkill-file');
    await file.started;
    const open = await until(async () => (await store.listMultipartUploads('')).filter((u) => u.key.startsWith(publicKeyPrefixFor(assetId))), (u) => u.length > 0);
    expect(open).toHaveLength(1);

    first.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

    const second = startApp('worker', workerEnv);
    await second.waitForLine(workerStarted);
    const asset = await waitTerminal(stack, assetId, 60_000);
    expect(asset).toMatchObject({ status: 'ready', size: bytes.length, sha256: sha256(bytes) });
    expect(file.downloads()).toBe(2);
    const served = new Uint8Array(await (await fetch(asset.url)).arrayBuffer());
    expect(sha256(served)).toBe(sha256(bytes));
    expect(await store.listMultipartUploads('')).toEqual([]);
    await second.stop();
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 120_000);
});

describe('API SIGTERM', () => {
  it('answers the request in flight, then exits 0', async () => {
    const port = await freePort();
    // debug: the request in flight is seen by its "incoming request" line.
    const api = startApp('api', { ...stack.services.env, LOG_LEVEL: 'debug', API_PORT: String(port), API_HOST: '127.0.0.1' });
    await api.waitForLine(apiListening);
    const base = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: auth, body: JSON.stringify({ contentType: 'image/png', size: 100 }) });
    expect(created.status).toBe(201);
    const { assetId } = (await created.json()) as { assetId: string };

    // A long-poll that stays open ~1.5 s: it is in flight when SIGTERM arrives.
    const url = `/v1/assets/${assetId}/wait?timeoutMs=1500`;
    const inFlight = fetch(`${base}${url}`, { headers: auth });
    await api.waitForLine((l) => l.msg === 'incoming request' && l.req?.url === url);
    api.kill('SIGTERM');
    await api.waitForLine((l) => l.msg === 'shutting down: draining requests');

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('pending_upload');
    // (exit 1 here means close() waited for an idle keep-alive connection until the 15 s force exit)
    expect(await api.exited).toEqual({ code: 0, signal: null });
  });
});

/** Re-reads `read()` until `ok` holds (a state we cannot be notified of, like the store's). */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
