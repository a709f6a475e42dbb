import { signWebhook, webhookDeliveryId } from '@rehost/jobs/schemas';
import { MemoryReplayStore, parseWebhook, receiveWebhook, verifyWebhook, WebhookSignatureError } from './index.js';

const secret = 'whsec_0123456789abcdef';
const body = JSON.stringify({ id: 'a', status: 'ready' });
const now = new Date('2026-03-01T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);

describe('verifyWebhook', () => {
  it('accepts a signature made with the secret over t.body', () => {
    expect(verifyWebhook({ body, header: signWebhook(body, secret, t), secret, now })).toBe(true);
    expect(verifyWebhook({ body: Buffer.from(body), header: signWebhook(body, secret, t), secret, now })).toBe(true);
  });

  it('refuses a tampered body, another secret, a stale or future timestamp and junk headers', () => {
    const header = signWebhook(body, secret, t);
    expect(verifyWebhook({ body: body.replace('ready', 'failed'), header, secret, now })).toBe(false);
    expect(verifyWebhook({ body, header, secret: 'another-secret-of-16', now })).toBe(false);
    expect(verifyWebhook({ body, header: header.replace(/v1=./, 'v1=0'), secret, now })).toBe(false);
    expect(verifyWebhook({ body, header, secret, now: now.getTime() + 301_000 })).toBe(false);
    expect(verifyWebhook({ body, header, secret, now: now.getTime() - 301_000 })).toBe(false);
    expect(verifyWebhook({ body, header, secret, now: now.getTime() + 301_000, toleranceSeconds: 600 })).toBe(true);
    for (const junk of [undefined, null, '', 't=1', 'v1=abc', `t=${t}`, 'garbage']) {
      expect(verifyWebhook({ body, header: junk, secret, now })).toBe(false);
    }
  });

  it('accepts any matching v1 (secret rotation)', () => {
    const old = signWebhook(body, 'the-old-secret-16chars', t).split(',')[1];
    const header = `${signWebhook(body, secret, t)},${old}`;
    expect(verifyWebhook({ body, header, secret: 'the-old-secret-16chars', now })).toBe(true);
  });

  it('parseWebhook says why it refused', () => {
    const err = (() => {
      try {
        parseWebhook({ body, header: signWebhook(body, secret, t - 1000), secret, now });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(WebhookSignatureError);
    expect(err).toMatchObject({ code: 'stale_signature' });
  });
});

describe('receiveWebhook with a replay store', () => {
  const assetId = '3f1c2b4a-0000-4000-8000-000000000001';
  const view = { id: assetId, status: 'ready', key: 'i/x.png', contentType: 'image/png', size: 1, width: 1, height: 1, sha256: null, source: { type: 'upload' }, ownerId: null, createdAt: 'x', updatedAt: 'x' };
  const delivery = (deliveryId: string | undefined) => JSON.stringify({ ...(deliveryId ? { deliveryId } : {}), ...view });
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

  it('derives one UUID per asset and outcome, the same on every call (every retry)', () => {
    const id = webhookDeliveryId(assetId, 'ready');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(webhookDeliveryId(assetId, 'ready')).toBe(id);
    expect(webhookDeliveryId(assetId, 'failed')).not.toBe(id);
    expect(webhookDeliveryId('3f1c2b4a-0000-4000-8000-000000000002', 'ready')).not.toBe(id);
  });

  it('accepts a delivery once and refuses the same id again, even re-signed later within the window', async () => {
    const store = new MemoryReplayStore();
    const deliveryId = webhookDeliveryId(assetId, 'ready');
    const body = delivery(deliveryId);
    const first = await receiveWebhook({ body, header: signWebhook(body, secret, t), secret, now, replayStore: store });
    expect(first.deliveryId).toBe(deliveryId);
    expect(first.asset).toMatchObject({ id: assetId, status: 'ready' });
    expect(first.asset).not.toHaveProperty('deliveryId');

    // The captured request, byte for byte: valid signature, inside the window — refused as seen.
    const replay = await refusal(receiveWebhook({ body, header: signWebhook(body, secret, t), secret, now: now.getTime() + 60_000, replayStore: store }));
    expect(replay).toBeInstanceOf(WebhookSignatureError);
    expect(replay).toMatchObject({ code: 'replayed_delivery' });
    // A new signature over the same body (rehost's retry) carries the same id: seen as well.
    const resigned = await refusal(receiveWebhook({ body, header: signWebhook(body, secret, t + 30), secret, now, replayStore: store }));
    expect(resigned).toMatchObject({ code: 'replayed_delivery' });

    // Another delivery passes; a forgotten id (handling failed) is let in again.
    const other = delivery(webhookDeliveryId(assetId, 'failed'));
    await expect(receiveWebhook({ body: other, header: signWebhook(other, secret, t), secret, now, replayStore: store })).resolves.toBeDefined();
    await store.forget(deliveryId);
    await expect(receiveWebhook({ body, header: signWebhook(body, secret, t), secret, now, replayStore: store })).resolves.toBeDefined();
  });

  it('checks the signature first: a forged body with a fresh id is refused, and its id is not recorded', async () => {
    const store = new MemoryReplayStore();
    const body = delivery(webhookDeliveryId(assetId, 'ready'));
    const forged = await refusal(receiveWebhook({ body, header: signWebhook(body, 'another-secret-of-16', t), secret, now, replayStore: store }));
    expect(forged).toMatchObject({ code: 'invalid_signature' });
    await expect(receiveWebhook({ body, header: signWebhook(body, secret, t), secret, now, replayStore: store })).resolves.toBeDefined();
    // The id is in the signed body: changing it breaks the signature.
    const header = signWebhook(body, secret, t);
    const swapped = body.replace(/"deliveryId":"[^"]+"/, `"deliveryId":"${webhookDeliveryId(assetId, 'expired')}"`);
    expect(await refusal(receiveWebhook({ body: swapped, header, secret, now, replayStore: store }))).toMatchObject({ code: 'invalid_signature' });
  });

  it('refuses a signed body without a deliveryId', async () => {
    const body = delivery(undefined);
    expect(await refusal(receiveWebhook({ body, header: signWebhook(body, secret, t), secret, now }))).toMatchObject({ code: 'missing_delivery_id' });
  });

  it('the memory store forgets ids after their ttl and keeps at most maxEntries', async () => {
    let clock = 0;
    const store = new MemoryReplayStore(2, () => clock);
    expect(await store.seen('a', 10)).toBe(false);
    expect(await store.seen('a', 10)).toBe(true);
    clock = 10_001;
    expect(await store.seen('a', 10)).toBe(false); // expired: recorded afresh
    expect(await store.seen('b', 10)).toBe(false);
    expect(await store.seen('c', 10)).toBe(false); // over 2 entries: the oldest ('a') goes
    expect(await store.seen('a', 10)).toBe(false);
    expect(await store.seen('c', 10)).toBe(true);
  });
});
