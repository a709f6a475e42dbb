import { assetView, type AssetView, checkWebhookSignature, type WebhookSignatureProblem } from '@rehost/jobs/schemas';
import { RehostError } from './errors.js';

export { WEBHOOK_SIGNATURE_HEADER } from '@rehost/jobs/schemas';

export interface VerifyWebhookInput {
  /** The raw request body, byte for byte (verify before parsing: re-serialized JSON will not match). */
  body: string | Uint8Array;
  /** The `X-Rehost-Signature` header (Node's `req.headers['x-rehost-signature']` as it comes). */
  header: string | readonly string[] | null | undefined;
  /** WEBHOOK_SIGNING_SECRET, as configured on the rehost worker. */
  secret: string;
  /** Largest accepted distance between the signature's timestamp and `now` (replay window). @defaultValue 300 */
  toleranceSeconds?: number;
  /** The receiver's clock: a Date or epoch milliseconds. @defaultValue the current time */
  now?: Date | number;
}

/** A webhook that did not verify; `code` says why. */
export class WebhookSignatureError extends RehostError {
  constructor(code: WebhookSignatureProblem) {
    const why = {
      malformed_signature: 'the X-Rehost-Signature header is missing or malformed',
      stale_signature: 'the signature timestamp is outside the tolerance window',
      invalid_signature: 'the signature does not match the body',
    }[code];
    super(code, why);
    this.name = 'WebhookSignatureError';
  }
}

/**
 * True when `header` is a valid signature of `body` with `secret`, made within the tolerance
 * window (compared in constant time). False for anything else; throws only for an empty secret.
 */
export function verifyWebhook(input: VerifyWebhookInput): boolean {
  return check(input) === undefined;
}

function check(input: VerifyWebhookInput): WebhookSignatureProblem | undefined {
  const header = typeof input.header === 'string' || input.header == null ? input.header : input.header.join(',');
  return checkWebhookSignature({ ...input, header });
}

/**
 * Verifies like {@link verifyWebhook} and returns the asset view the webhook carries; throws
 * WebhookSignatureError (`malformed_signature` | `stale_signature` | `invalid_signature`)
 * or RehostError `bad_response` when the verified body is not an asset view.
 */
export function parseWebhook(input: VerifyWebhookInput): AssetView {
  const problem = check(input);
  if (problem) throw new WebhookSignatureError(problem);
  const text = typeof input.body === 'string' ? input.body : new TextDecoder().decode(input.body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RehostError('bad_response', 'webhook body is not JSON');
  }
  const parsed = assetView.safeParse(json);
  if (!parsed.success) throw new RehostError('bad_response', 'webhook body is not an asset view');
  return parsed.data;
}
