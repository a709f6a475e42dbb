/**
 * Shutdown and crash behaviour of real processes:
 * - SIGTERM to a worker with a job in flight: the job finishes, then the process exits 0.
 * - SIGKILL mid-upload: a second worker retakes the stalled job and completes it, and no
 *   multipart upload is left dangling.
 * - SIGTERM to the API with a request in flight: it is answered, then the process exits 0.
 * The in-flight job is a Telegram download from the Bot API double whose body we hold back
 * until the test says so.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, makePngOfSize, sha256, startBotApiDouble } from '@rehost/testing';
import { publicKeyPrefixFor } from '@rehost/storage';
import { waitTerminal } from './helpers.js';
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
    const api = startApp('api', { ...stack.services.env, LOG_LEVEL: 'info', API_PORT: String(port), API_HOST: '127.0.0.1' });
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
