import { analyzeJob } from './analyze.job.js';
import { erasureJob } from './erasure.job.js';
import { finalizeUploadJob } from './finalize-upload.job.js';
import { maintenanceJob } from './maintenance.job.js';
import { rehostJob } from './rehost.job.js';
import { webhookJob } from './webhook.job.js';

/**
 * Every job rehost runs. The worker takes one processor per key, so a job without
 * a handler does not compile.
 */
export const catalog = {
  rehost: rehostJob,
  finalizeUpload: finalizeUploadJob,
  webhook: webhookJob,
  maintenance: maintenanceJob,
  erasure: erasureJob,
  analyze: analyzeJob,
} as const;

export type Catalog = typeof catalog;
export type JobKey = keyof Catalog;

/** Deterministic job ids make enqueueing idempotent (BullMQ ignores an id it already holds). */
export const jobIdFor = (key: JobKey, assetId: string): string => `${catalog[key].name}-${assetId}`;
