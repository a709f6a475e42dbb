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
