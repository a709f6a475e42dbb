import type { Catalog, JobKey, PayloadOf, ResultOf } from '@rehost/jobs';
import type { Logger } from '@rehost/logger';
import type { WorkerContext } from '../context.js';

export interface JobRun<K extends JobKey> {
  id: string;
  data: PayloadOf<Catalog[K]>;
  /** 0 on the first run. */
  attemptsMade: number;
  log: Logger;
  signal: AbortSignal;
  /** Counts bytes this run wrote to the store (metrics); a deduplicated asset stores nothing. */
  reportStored: (bytes: number) => void;
  /** Tells the runner whether the asset has a callbackUrl (it read the row anyway; spares a second read). */
  noteCallback?: (wanted: boolean) => void;
}

/**
 * A processor does one job and returns its terminal result. It throws AppErrors:
 * permanent ones fail the asset at once; anything else is retried with backoff.
 */
export type Processor<K extends JobKey> = (run: JobRun<K>, ctx: WorkerContext) => Promise<ResultOf<Catalog[K]>>;

/**
 * Thrown by a processor that has to wait — for another asset's run (the same file being stored),
 * or for its bot's 429 pause to end: the runner saves `data` into the job and delays it by
 * `delayMs` without using up an attempt.
 */
export class WaitAndRecheck extends Error {
  constructor(
    readonly delayMs: number,
    readonly data: Record<string, unknown>,
  ) {
    super(`waiting ${delayMs} ms before a re-check`);
    this.name = 'WaitAndRecheck';
  }
}

/** Jobs that belong to one asset (every job but the sweeper's): failed and announced per asset. */
export type AssetJobKey = Exclude<JobKey, NonAssetJobKey>;

/** Jobs that concern no single asset: the sweeper's, an owner's erasure. */
export type NonAssetJobKey = 'maintenance' | 'erasure';

/** One processor per catalog entry: a job without a handler does not compile. */
export type Processors = { [K in JobKey]: Processor<K> };
