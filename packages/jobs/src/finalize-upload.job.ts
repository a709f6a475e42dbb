import { z } from 'zod';
import { assetEvent } from './asset.js';
import { defineJob, RETENTION } from './define-job.js';

/** Verify a directly uploaded object and publish it. */
export const finalizeUploadJob = defineJob({
  queue: 'finalize-upload',
  name: 'finalize-upload',
  payload: z.object({ assetId: z.string().uuid() }),
  result: assetEvent,
  options: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 1000 },
    ...RETENTION,
  },
});
