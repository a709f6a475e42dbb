import { z } from 'zod';
import { assetEvent } from './asset.js';
import { defineJob, RETENTION } from './define-job.js';

export const telegramSource = z.object({
  type: z.literal('telegram'),
  fileId: z.string().min(1).max(512),
  fileUniqueId: z.string().min(1).max(128).optional(),
  /** Name of a configured bot; the token never travels in a job. */
  bot: z.string().min(1).max(64).default('default'),
});

export const urlSource = z.object({
  type: z.literal('url'),
  url: z.string().url().max(2048),
});

export const rehostSource = z.discriminatedUnion('type', [telegramSource, urlSource]);
export type RehostSource = z.infer<typeof rehostSource>;

/** Download a platform file and store it for good. */
export const rehostJob = defineJob({
  queue: 'rehost',
  name: 'rehost',
  payload: z.object({
    assetId: z.string().uuid(),
    source: rehostSource,
    /**
     * Set by the job itself while another asset stores the same file: the file_unique_id its own
     * getFile returned (so a re-check needs no Bot API call), since when and how often it waited.
     */
    waiting: z.object({ fileUniqueId: z.string().max(128), since: z.number().int(), count: z.number().int() }).optional(),
  }),
  result: assetEvent,
  options: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 1000 },
    ...RETENTION,
  },
});
