import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * A job is declared once: queue, name, payload and result schemas, default options.
 * Queue and job names are stored in Redis: rename only with a migration plan.
 */
export interface JobDefinition<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  queue: string;
  name: string;
  payload: P;
  result: R;
  options: JobsOptions;
}

export function defineJob<P extends z.ZodType, R extends z.ZodType>(def: JobDefinition<P, R>): JobDefinition<P, R> {
  return def;
}

export type PayloadOf<D extends JobDefinition> = z.infer<D['payload']>;
export type ResultOf<D extends JobDefinition> = z.infer<D['result']>;

/** How long finished jobs stay visible (Bull Board, debugging) before Redis drops them. */
export const RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const satisfies JobsOptions;
