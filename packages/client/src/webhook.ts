import {
  assetView,
  type AssetView,
  checkWebhookSignature,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookSignatureProblem,
} from '@rehost/jobs/schemas';
import { RehostError } from './errors.js';

export { WEBHOOK_DELIVERY_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from '@rehost/jobs/schemas';

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

/** Why a webhook was refused: its signature, or (with a replay store) its delivery id. */
export type WebhookProblem = WebhookSignatureProblem | 'replayed_delivery' | 'missing_delivery_id';

/** A webhook that did not verify, or was seen before; `code` says why. */
export class WebhookSignatureError extends RehostError {
  declare readonly code: WebhookProblem;

  constructor(code: WebhookProblem) {
    const why = {
      malformed_signature: 'the X-Rehost-Signature header is missing or malformed',
      stale_signature: 'the signature timestamp is outside the tolerance window',
      invalid_signature: 'the signature does not match the body',
      replayed_delivery: 'this delivery id was received before (a retry of a handled delivery, or a replay)',
      missing_delivery_id: 'the signed body carries no deliveryId',
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

/**
 * Remembers the delivery ids a receiver has accepted, so a captured webhook replayed within the
 * signature's tolerance window is refused. Shared by every receiver process (use Redis, below,
 * when there is more than one).
 */
export interface WebhookReplayStore {
  /**
   * Records `id` for `ttlSeconds` and says whether it was already recorded — atomically: of two
   * concurrent calls with one id, exactly one answers false. Redis: `SET <prefix><id> 1 NX EX <ttl>`
   * answers null when the id was there (seen → true), "OK" otherwise.
   */
  seen(id: string, ttlSeconds: number): Promise<boolean>;
  /** Forgets `id` (handling failed: let rehost's retry of the same delivery in). Redis: `DEL`. */
  forget?(id: string): Promise<void>;
}

/**
 * A {@link WebhookReplayStore} in this process's memory: for a single receiver process (ids are
 * lost on restart — a replay after a restart within the window gets through).
 */
export class MemoryReplayStore implements WebhookReplayStore {
  private readonly ids = new Map<string, number>();

  /** @param maxEntries bound on remembered ids; the oldest go first. @defaultValue 100000 */
  constructor(
    private readonly maxEntries = 100_000,
    private readonly clock: () => number = Date.now,
  ) {}

  async seen(id: string, ttlSeconds: number): Promise<boolean> {
    const now = this.clock();
    const until = this.ids.get(id);
    if (until !== undefined && until > now) return true;
    this.ids.delete(id);
    this.ids.set(id, now + ttlSeconds * 1000);
    // Map iteration is insertion order: expired or oldest entries are at the front.
    for (const [old, expires] of this.ids) {
      if (this.ids.size <= this.maxEntries && expires > now) break;
      this.ids.delete(old);
    }
    return false;
  }

  async forget(id: string): Promise<void> {
    this.ids.delete(id);
  }
}

export interface ReceiveWebhookInput extends VerifyWebhookInput {
  /** Where accepted delivery ids are remembered; without one, replays within the window are not detected. */
  replayStore?: WebhookReplayStore;
}

/** A verified webhook: the asset's final view and the delivery's id. */
export interface ReceivedWebhook {
  /** Unique per asset and outcome, the same on every retry of that delivery (a UUID). */
  deliveryId: string;
  asset: AssetView;
}

/**
 * Verifies like {@link parseWebhook}, then, given a `replayStore`, refuses a delivery id it has
 * seen (`WebhookSignatureError` `replayed_delivery`) — remembered for twice the tolerance window,
 * the longest a signature can stay acceptable. A retry of a delivery you handled also comes back
 * as `replayed_delivery`: answer it 2xx without handling it again. If handling fails, call
 * `replayStore.forget(deliveryId)` and answer 5xx, so the retry is let in.
 */
export async function receiveWebhook(input: ReceiveWebhookInput): Promise<ReceivedWebhook> {
  const asset = parseWebhook(input);
  const text = typeof input.body === 'string' ? input.body : new TextDecoder().decode(input.body);
  const deliveryId = (JSON.parse(text) as { deliveryId?: unknown }).deliveryId;
  if (typeof deliveryId !== 'string' || deliveryId.length === 0 || deliveryId.length > 200) {
    throw new WebhookSignatureError('missing_delivery_id');
  }
  if (input.replayStore) {
    const window = input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
    if (await input.replayStore.seen(deliveryId, 2 * window)) throw new WebhookSignatureError('replayed_delivery');
  }
  return { deliveryId, asset };
}
