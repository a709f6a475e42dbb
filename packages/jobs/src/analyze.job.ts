import { z } from 'zod';
import { errorBody } from './asset.js';
import { defineJob, RETENTION } from './define-job.js';

/**
 * Decode a ready asset's stored image once and record its facts (placeholder, dominant colour,
 * pHash). Off the URL's critical path: enqueued when the asset becomes ready, never before.
 * An image that cannot be decoded is a result (`analyzed` with `error`), not a failure: the
 * asset stays ready and its facts stay null.
 */
export const analyzeJob = defineJob({
  // Queue and job names are stored in Redis: rename only with a migration plan.
  queue: 'analyze',
  name: 'analyze',
  payload: z.object({ assetId: z.string().uuid() }),
  result: z.object({
    assetId: z.string(),
    /** `skipped`: nothing to do (asset gone, not ready, or already analysed). Never an asset status. */
    status: z.enum(['analyzed', 'skipped']),
    /** `decoded` the bytes, or `copied` the facts of another asset sharing the same stored object. */
    via: z.enum(['decoded', 'copied']).optional(),
    /** Why the facts stay null (`too_many_pixels`, `undecodable`, `too_large`). */
    error: errorBody.optional(),
  }),
  options: {
    // Only store/database blips are retried; an undecodable image is an answer, not an error.
    attempts: 5,
    backoff: { type: 'exponential', delay: 2000 },
    ...RETENTION,
  },
});
