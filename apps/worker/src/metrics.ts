import { queueDepthGaugeOptions } from '@rehost/jobs';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Queue } from 'bullmq';

/** Outcomes a job run can have (a `retry` run throws and BullMQ runs it again later). */
export type JobOutcome = 'ready' | 'failed' | 'retry';

/**
 * Worker process metrics, one registry per worker instance (tests build several).
 * Names are shared with the API where they mean the same thing (`rehost_queue_depth`).
 */
export function createWorkerMetrics(opts: { queues: Queue[] }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const jobs = new Counter({
    name: 'rehost_jobs_total',
    help: 'Job runs by queue and outcome (ready, failed for good, retry)',
    labelNames: ['queue', 'outcome'] as const,
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'rehost_job_duration_seconds',
    help: 'Time one job run took, by queue',
    labelNames: ['queue'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const storedBytes = new Counter({
    name: 'rehost_stored_bytes_total',
    help: 'Bytes of images that became ready, by queue',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const telegramErrors = new Counter({
    name: 'rehost_telegram_api_errors_total',
    help: 'Failed Telegram Bot API attempts by method and code (HTTP status or error_code; 0 = network)',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
  });
  const s3Errors = new Counter({
    name: 'rehost_s3_errors_total',
    help: 'Failed S3 operations by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const s3Duration = new Histogram({
    name: 'rehost_s3_operation_duration_seconds',
    help: 'S3 operation duration by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const metadataRemovedTotal = new Counter({
    name: 'rehost_metadata_removed_total',
    help: 'Stored images that had metadata of a kind removed (METADATA_POLICY=strip), by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const imageAnalyses = new Counter({
    name: 'rehost_image_analyses_total',
    help: 'Image analyses by outcome (decoded, copied from an asset sharing the object, undecodable) and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  new Gauge({ ...queueDepthGaugeOptions(opts.queues), registers: [registry] });

  return {
    registry,
    jobs,
    jobDuration,
    storedBytes,
    metadataRemoved: (kinds: readonly string[]) => {
      for (const kind of kinds) metadataRemovedTotal.inc({ kind });
    },
    telegramErrors,
    s3Errors,
    s3Duration,
    imageAnalyses,
    /** For `WorkerContext.onAnalysis`: `reason` is the code of an undecodable image, else empty. */
    imageAnalysis(outcome: 'decoded' | 'copied' | 'undecodable', reason?: string): void {
      imageAnalyses.inc({ outcome, reason: reason ?? '' });
    },
    /** For `startWorkers`' `onJobDone` hook. */
    jobDone(queue: string, outcome: JobOutcome, seconds: number): void {
      jobs.inc({ queue, outcome });
      jobDuration.observe({ queue }, seconds);
    },
    /** For `BotApiOptions.onApiError`. */
    telegramError(method: string, code: number): void {
      telegramErrors.inc({ method, code: String(code) });
    },
    /** For `ObjectStore.onOp`. */
    storeOp(operation: string, outcome: 'ok' | 'error', seconds: number): void {
      s3Duration.observe({ operation, outcome }, seconds);
      if (outcome === 'error') s3Errors.inc({ operation });
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
