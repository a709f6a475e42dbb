import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, shared by the worker (signs) and @rehost/client (verifies).
 *
 *   X-Rehost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
 *
 * The timestamp is signed with the body, so a captured request cannot be replayed after the
 * tolerance window; several `v1=` entries may appear (secret rotation): any one matching passes.
 * Inside the window, the body's `deliveryId` (signed with it) lets a receiver refuse a delivery it
 * has already seen.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'X-Rehost-Signature';
/** Copy of the body's `deliveryId`, for logs and routing; unsigned — verifiers read the body's. */
export const WEBHOOK_DELIVERY_ID_HEADER = 'X-Rehost-Delivery-Id';

/** Namespace of delivery ids (a fixed random UUID: ids of other systems never collide with ours). */
const DELIVERY_NAMESPACE = Buffer.from('6f0d3c1e8a2b4c7d9e1f203a4b5c6d7e', 'hex');

/**
 * The id of the delivery announcing that `assetId` became `status`: a name-based UUID (RFC 9562
 * version 5), so every attempt — and a second announcement of the same outcome — carries the same
 * id, and different assets or outcomes never share one.
 */
export function webhookDeliveryId(assetId: string, status: string): string {
  const hash = createHash('sha1').update(DELIVERY_NAMESPACE).update(`${assetId}:${status}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8]! & 0x3f) | 0x80; // RFC variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Default window a receiver accepts between the signature's `t` and its own clock. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

const hmacHex = (secret: string, timestamp: number, body: string | Uint8Array): string =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');

/** The header value for `body` signed at `timestamp` (unix seconds). */
export function signWebhook(body: string | Uint8Array, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

export type WebhookSignatureProblem = 'malformed_signature' | 'stale_signature' | 'invalid_signature';

export interface CheckWebhookSignatureInput {
  /** The raw request body, exactly as received (re-serialized JSON will not match). */
  body: string | Uint8Array;
  /** The X-Rehost-Signature header value. */
  header: string | null | undefined;
  secret: string;
  /** @defaultValue 300 */
  toleranceSeconds?: number;
  /** The receiver's clock. @defaultValue new Date() */
  now?: Date | number;
}

/** Checks a signature; returns what is wrong with it, or undefined when it is valid. */
export function checkWebhookSignature(input: CheckWebhookSignatureInput): WebhookSignatureProblem | undefined {
  const { body, header, secret } = input;
  if (!secret) throw new TypeError('checkWebhookSignature: secret is empty');
  if (!header) return 'malformed_signature';
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  if (timestamp === undefined || signatures.length === 0) return 'malformed_signature';
  const nowMs = input.now === undefined ? Date.now() : typeof input.now === 'number' ? input.now : input.now.getTime();
  const tolerance = input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  if (Math.abs(nowMs / 1000 - timestamp) > tolerance) return 'stale_signature';
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  const ok = signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  return ok ? undefined : 'invalid_signature';
}
