import { z } from 'zod';
import { defineJob, RETENTION } from './define-job.js';

/**
 * Erase every asset an owner stored before the request (DELETE /v1/owners/:ownerId/assets),
 * with DELETE's semantics per asset. The job is resumable: each run continues with the owner's
 * assets still live, and the Erasure row keeps the counts. It concerns an owner, not an asset:
 * no completion event of its own (each asset gets its `deleted` event).
 */
export const erasureJob = defineJob({
  // Queue and job names are stored in Redis: rename only with a migration plan.
  queue: 'erasure',
  name: 'erasure',
  payload: z.object({ erasureId: z.string().uuid() }),
  result: z.object({ erasureId: z.string(), status: z.enum(['done', 'gone']), deleted: z.number().int() }),
  options: {
    attempts: 20,
    backoff: { type: 'exponential', delay: 1000 },
    ...RETENTION,
  },
});
