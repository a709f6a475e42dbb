import { z } from 'zod';
import { assetEvent } from './asset.js';
import { defineJob } from './define-job.js';

/** Verify a directly uploaded object and publish it. */
export const finalizeUploadJob = defineJob({
  queue: 'finalize-upload',
  name: 'finalize-upload',
  payload: z.object({ assetId: z.string().uuid() }),
  result: assetEvent,
  options: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  },
});
