import { z } from 'zod';
import { defineJob, RETENTION } from './define-job.js';

/**
 * POST the final asset view to the asset's `callbackUrl`, signed (see webhook-signature.ts).
 * The payload names the asset only: the URL is read from the asset row and the body built
 * at send time, so no secret (nor the signature) ever sits in Redis. Which attempt this is
 * comes from BullMQ (`attemptsMade`), and every attempt is recorded as a WebhookDelivery.
 */
export const webhookJob = defineJob({
  // Queue and job names are stored in Redis: rename only with a migration plan.
  queue: 'webhook',
  name: 'webhook',
  payload: z.object({
    assetId: z.string().uuid(),
    /**
     * What triggered the delivery: a terminal status, or `analyzed` (the image facts arrived; a
     * second delivery of the same asset, its own job id and deliveryId). The body is re-read.
     */
    status: z.enum(['ready', 'failed', 'expired', 'analyzed']),
  }),
  result: z.object({
    assetId: z.string(),
    /**
     * `delivered`: the receiver answered 2xx; `gave_up`: refused for good or out of attempts;
     * `skipped`: nothing to send (asset deleted, no callbackUrl). Never an asset status: the
     * worker publishes no completion event for a webhook job.
     */
    status: z.enum(['delivered', 'gave_up', 'skipped']),
    attempts: z.number().int(),
    statusCode: z.number().int().optional(),
  }),
  options: {
    // ~10 attempts, 2 s doubling: the last one goes out about 17 minutes after the first.
    attempts: 10,
    backoff: { type: 'exponential', delay: 2000 },
    ...RETENTION,
  },
});
