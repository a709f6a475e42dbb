import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryReplayStore, parseWebhook, receiveWebhook, RehostApiError, RehostClient, verifyWebhook, WebhookSignatureError } from '@rehost/client';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { type Receiver, startReceiver } from './receiver.js';
import { type Stack, startStack } from './stack.js';

const SECRET = 'whsec_test_0123456789abcdef';

let stack: Stack;
let double: BotApiDouble;
let receiver: Receiver;
let client: RehostClient;

beforeAll(async () => {
  double = await startBotApiDouble();
  double.addFile({ fileId: 'wh-photo', fileUniqueId: 'wh-uniq', bytes: makePng(32, 24) });
  receiver = await startReceiver();
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: double.token,
      TELEGRAM_API_BASE_URL: double.baseUrl,
      WEBHOOK_SIGNING_SECRET: SECRET,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      // One delivery per asset here (scripted answers go to whichever arrives first); the second
      // delivery that image facts bring is tested in analyze.test.ts.
      ANALYZE_IMAGES: 'false',
    },
  });
  client = new RehostClient({ baseUrl: stack.baseUrl, token: stack.token });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await double?.close();
});

interface CompletedJob {
  data: { assetId: string };
  returnvalue: unknown;
}

/** Resolves when the in-process webhook worker completes the job for `assetId`. */
function webhookJobDone(assetId: () => string | undefined): Promise<CompletedJob> {
  const worker = stack.workers!.workers.find((w) => w.name === 'webhook')!;
  return new Promise((resolve) => {
    const onCompleted = (job: CompletedJob) => {
      if (job.data.assetId !== assetId()) return;
      worker.off('completed', onCompleted);
      resolve(job);
    };
    worker.on('completed', onCompleted);
  });
}

describe('webhooks', () => {
  it('POSTs the final view, signed; retries after a 500; records every attempt', async () => {
    receiver.answerWith(500);
    let id: string | undefined;
    const jobDone = webhookJobDone(() => id);
    const { assetId } = await client.rehostTelegramFile('wh-photo', { callbackUrl: `${receiver.url}/hooks/rehost?tenant=7` });
    id = assetId;

    const [first, second] = await receiver.requests(assetId, 2);
    expect(first!.answered).toBe(500);
    expect(second!.answered).toBe(200);
    expect(second!.headers['x-rehost-delivery-attempt']).toBe('2');
    // A retry is re-signed, with the same body.
    expect(second!.body).toBe(first!.body);

    const header = second!.headers['x-rehost-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook({ body: second!.body, header, secret: SECRET })).toBe(true);
    // Tampered body, wrong secret, replay outside the window: refused.
    expect(verifyWebhook({ body: second!.body.replace('"ready"', '"failed"'), header, secret: SECRET })).toBe(false);
    expect(verifyWebhook({ body: second!.body, header, secret: 'another-secret-0123456' })).toBe(false);
    expect(verifyWebhook({ body: second!.body, header, secret: SECRET, now: Date.now() + 600_000 })).toBe(false);

    const view = parseWebhook({ body: second!.body, header, secret: SECRET });
    expect(view).toEqual(await client.getAsset(assetId));
    expect(view).toMatchObject({ id: assetId, status: 'ready', width: 32, height: 24, url: `${stack.services.env.PUBLIC_BASE_URL}/${view.key}` });

    const job = await jobDone;
    expect(job.returnvalue).toEqual({ assetId, status: 'delivered', attempts: 2, statusCode: 200 });
    // The payload names the asset only: no URL, no secret, no signature in Redis.
    expect(job.data).toEqual({ assetId, status: 'ready' });

    const { rows } = await stack.services.db.query(
      'SELECT attempt, "statusCode", error, url FROM "WebhookDelivery" WHERE "assetId" = $1 ORDER BY attempt',
      [assetId],
    );
    expect(rows).toEqual([
      { attempt: 1, statusCode: 500, error: 'receiver answered HTTP 500', url: `${receiver.url}/hooks/rehost?tenant=7` },
      { attempt: 2, statusCode: 200, error: null, url: `${receiver.url}/hooks/rehost?tenant=7` },
    ]);
  });

  it('carries a deliveryId in the signed body, the same on every retry; a receiver with a replay store refuses a replay', async () => {
    double.addFile({ fileId: 'wh-replay', fileUniqueId: 'wh-replay-uniq', bytes: makePng(20, 10) });
    receiver.answerWith(503);
    const { assetId } = await client.rehostTelegramFile('wh-replay', { callbackUrl: `${receiver.url}/hooks/replay` });
    const [first, second] = await receiver.requests(assetId, 2);
    const { deliveryId } = JSON.parse(second!.body) as { deliveryId: string };
    expect(deliveryId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(first!.body).deliveryId).toBe(deliveryId); // a retry is the same delivery
    expect(second!.headers['x-rehost-delivery-id']).toBe(deliveryId);

    const store = new MemoryReplayStore();
    const header = second!.headers['x-rehost-signature'] as string;
    const received = await receiveWebhook({ body: second!.body, header, secret: SECRET, replayStore: store });
    expect(received.deliveryId).toBe(deliveryId);
    expect(received.asset).toEqual(await client.getAsset(assetId));

    // The captured request sent again, within the signature's window: the signature verifies, the id does not pass.
    expect(verifyWebhook({ body: second!.body, header, secret: SECRET })).toBe(true);
    const replay = await receiveWebhook({ body: second!.body, header, secret: SECRET, replayStore: store }).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(WebhookSignatureError);
    expect(replay).toMatchObject({ code: 'replayed_delivery' });
    // The id cannot be swapped for a fresh one: it is signed with the body.
    const swapped = second!.body.replace(deliveryId, '00000000-0000-5000-8000-000000000000');
    const forged = await receiveWebhook({ body: swapped, header, secret: SECRET, replayStore: store }).catch((e: unknown) => e);
    expect(forged).toMatchObject({ code: 'invalid_signature' });

    // Another asset's delivery has another id.
    const other = receiver.received.find((h) => h.headers['x-rehost-asset-id'] !== assetId);
    expect(other && JSON.parse(other.body).deliveryId).not.toBe(deliveryId);
  });

  it('calls back for a failed asset too, with its error code', async () => {
    let id: string | undefined;
    const jobDone = webhookJobDone(() => id);
    const { assetId } = await client.rehostTelegramFile('no-such-file', { callbackUrl: `${receiver.url}/hooks/failed` });
    id = assetId;
    const [hook] = await receiver.requests(assetId, 1);
    const view = parseWebhook({ body: hook!.body, header: hook!.headers['x-rehost-signature'] as string, secret: SECRET });
    expect(view).toMatchObject({ id: assetId, status: 'failed', error: { code: 'telegram_invalid_file' } });
    expect((await jobDone).returnvalue).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('sends nothing for an asset without a callbackUrl', async () => {
    const before = receiver.received.length;
    const asset = await client.rehostTelegramFile('wh-photo', { wait: true });
    expect(asset.status).toBe('ready');
    const jobs = await stack.apiCtx.queues.queues.webhook.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    expect(jobs.filter((j) => j.data.assetId === asset.id)).toEqual([]);
    expect(receiver.received.length).toBe(before);
  });

  it('refuses a callback host outside the allow-list before accepting the job', async () => {
    for (const callbackUrl of ['http://127.0.0.2:9/hook', 'http://[::1]:9/hook', 'file:///etc/passwd']) {
      const err = await client.rehostTelegramFile('wh-photo', { callbackUrl }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RehostApiError);
      expect((err as RehostApiError).status).toBe(400);
    }
  });
});
