import { signWebhook } from '@rehost/jobs/schemas';
import { parseWebhook, verifyWebhook, WebhookSignatureError } from './index.js';

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
