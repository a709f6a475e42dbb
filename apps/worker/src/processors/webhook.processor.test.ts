import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkWebhookSignature, isAppError } from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import type { WorkerContext } from '../context.js';
import { webhook } from './webhook.processor.js';

const SECRET = 'unit-test-secret-0123456789';
const ASSET_ID = '6d2c9d7e-4f7b-4b1a-9c1e-2f3a4b5c6d7e';

/** A receiver answering `status` and recording bodies and headers. */
let server: http.Server;
let baseUrl: string;
let status = 200;
const hits: { body: string; signature: string }[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ body, signature: String(req.headers['x-rehost-signature']) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  hits.length = 0;
  status = 200;
});

/** Small hand-written fakes: the asset row and the delivery table. */
function fakeContext(opts: { callbackUrl?: string | null; secret?: string } = {}) {
  const deliveries: Record<string, unknown>[] = [];
  const asset = {
    id: ASSET_ID,
    status: 'ready' as const,
    sourceType: 'telegram' as const,
    telegramFileId: 'f',
    telegramFileUniqueId: 'u',
    telegramBot: 'default',
    sourceUrl: null,
    filename: null,
    declaredContentType: null,
    declaredSize: null,
    key: `i/${ASSET_ID}.png`,
    contentType: 'image/png',
    size: 10,
    width: 2,
    height: 2,
    sha256: 'a'.repeat(64),
    ownerId: null,
    errorCode: null,
    errorMessage: null,
    callbackUrl: opts.callbackUrl === undefined ? `${baseUrl}/hook` : opts.callbackUrl,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    updatedAt: new Date('2026-01-01T00:00:01Z'),
  };
  const ctx = {
    config: {
      WEBHOOK_SIGNING_SECRET: 'secret' in opts ? opts.secret : SECRET,
      WEBHOOK_ALLOWED_HOSTS: ['127.0.0.1'],
      PUBLIC_BASE_URL: 'https://cdn.example',
      FETCH_CONNECT_TIMEOUT_MS: 2000,
      FETCH_IDLE_TIMEOUT_MS: 2000,
      QUEUE_PREFIX: '{unit}',
    },
    assets: { get: async () => asset },
    // The pool as WebhooksRepo uses it here: only its delivery INSERT (the SQL itself is tested in test/src/webhooks.test.ts).
    sql: {
      query: async ({ name, values }: { name: string; values: unknown[] }) => {
        if (name !== 'webhook_record_delivery') throw new Error(`unexpected statement ${name}`);
        const [id, assetId, url, attempt, statusCode, error, durationMs] = values;
        const row = { id, assetId, url, attempt, statusCode, error, durationMs, createdAt: new Date() };
        deliveries.push(row);
        return { rows: [row], rowCount: 1 };
      },
    },
  } as unknown as WorkerContext;
  return { ctx, deliveries };
}

const run = (attemptsMade: number) => ({
  id: `webhook-${ASSET_ID}`,
  data: { assetId: ASSET_ID, status: 'ready' as const },
  attemptsMade,
  log: createLogger({ name: 'test', level: 'silent' }),
  signal: new AbortController().signal,
  reportStored: () => {},
});

describe('webhook processor', () => {
  it('delivers the signed asset view and records the attempt', async () => {
    const { ctx, deliveries } = fakeContext();
    await expect(webhook(run(0), ctx)).resolves.toEqual({ assetId: ASSET_ID, status: 'delivered', attempts: 1, statusCode: 200 });
    expect(hits).toHaveLength(1);
    expect(checkWebhookSignature({ body: hits[0]!.body, header: hits[0]!.signature, secret: SECRET })).toBeUndefined();
    expect(JSON.parse(hits[0]!.body)).toMatchObject({ id: ASSET_ID, status: 'ready', url: `https://cdn.example/i/${ASSET_ID}.png` });
    expect(deliveries).toEqual([expect.objectContaining({ assetId: ASSET_ID, url: `${baseUrl}/hook`, attempt: 1, statusCode: 200, error: null })]);
  });

  it('throws a retryable error on a 500 before the last attempt, and gives up (without throwing) on the last', async () => {
    status = 500;
    const { ctx, deliveries } = fakeContext();
    const err = await webhook(run(0), ctx).catch((e: unknown) => e);
    expect(isAppError(err) && !err.permanent).toBe(true);
    await expect(webhook(run(9), ctx)).resolves.toEqual({ assetId: ASSET_ID, status: 'gave_up', attempts: 10 });
    expect(deliveries.map((d) => [d.attempt, d.statusCode, d.error])).toEqual([
      [1, 500, 'receiver answered HTTP 500'],
      [10, 500, 'receiver answered HTTP 500'],
    ]);
  });

  it('gives up at once on a host the SSRF guard refuses, recording why', async () => {
    const { ctx, deliveries } = fakeContext({ callbackUrl: 'http://127.0.0.2:9/hook' });
    await expect(webhook(run(0), ctx)).resolves.toMatchObject({ status: 'gave_up', attempts: 1 });
    expect(hits).toHaveLength(0);
    expect(deliveries[0]).toMatchObject({ attempt: 1, statusCode: null, error: expect.stringContaining('not allowed') });
  });

  it('sends nothing unsigned, and nothing for an asset without a callback', async () => {
    const unsigned = fakeContext({ secret: undefined });
    await expect(webhook(run(0), unsigned.ctx)).resolves.toMatchObject({ status: 'gave_up' });
    expect(unsigned.deliveries[0]).toMatchObject({ error: 'WEBHOOK_SIGNING_SECRET is not configured' });
    const none = fakeContext({ callbackUrl: null });
    await expect(webhook(run(0), none.ctx)).resolves.toEqual({ assetId: ASSET_ID, status: 'skipped', attempts: 1 });
    expect(hits).toHaveLength(0);
    expect(none.deliveries).toHaveLength(0);
  });
});
