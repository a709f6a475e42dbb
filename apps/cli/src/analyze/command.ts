import { AnalysisRepo, createSql } from '@rehost/db';
import { createRedis, JobQueues, jobIdFor, redisClientName } from '@rehost/jobs';
import { formatDuration } from '../backfill/progress.js';

export const ANALYZE_USAGE = `usage: pnpm rehost analyze [options]

Enqueues an \`analyze\` job (placeholder, dominant colour, perceptual hash) for every live ready
asset that has no image facts yet — assets stored before analysis existed, or while
ANALYZE_IMAGES was false — and waits until the workers have run them. Resumable by
construction: the database is the state (an analysed asset, or one whose image could not be
decoded, is never picked again), so after Ctrl-C or a crash the same command goes on where the
facts are still missing. Reads DATABASE_URL, REDIS_URL and QUEUE_PREFIX like the services.

options:
  --batch <n>             assets read per query (default: 500)
  --max-waiting <n>       keep at most this many analyze jobs waiting in Redis (default: 2000)
  --no-wait               enqueue and exit without waiting for the results
  --progress-every <s>    seconds between progress lines when stderr is not a terminal (default: 10)
  -h, --help`;

export interface AnalyzeOptions {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  batch: number;
  maxWaiting: number;
  wait: boolean;
  progressEveryMs: number;
  /** Where progress goes. @defaultValue process.stderr */
  out?: NodeJS.WriteStream;
  /** Stops enqueueing (and waiting) when aborted: the CLI wires SIGINT to it. */
  signal?: AbortSignal;
}

/** How often the queue and the remaining count are looked at while pacing or waiting. */
const POLL_MS = 250;

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * The analysis backfill. Returns the exit code: 0 every asset analysed, 3 some still without
 * facts (a job ran out of attempts: run again), 130 interrupted.
 */
export async function runAnalyzeBackfill(opts: AnalyzeOptions): Promise<number> {
  const out = opts.out ?? process.stderr;
  const sql = createSql(opts.databaseUrl, { max: 2 });
  const redis = createRedis(opts.redisUrl, { connectionName: redisClientName('cli-analyze') });
  const queues = new JobQueues(redis, opts.queuePrefix);
  const queue = queues.queues.analyze;
  const repo = new AnalysisRepo(sql);
  try {
    const total = await repo.countUnanalysed();
    let enqueued = 0;
    let remaining = total;
    const started = performance.now();
    const tty = Boolean(out.isTTY);
    let lastLine = 0;
    const render = (force = false) => {
      const now = performance.now();
      if (!force && now - lastLine < (tty ? 200 : opts.progressEveryMs)) return;
      lastLine = now;
      const done = total - remaining;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const rate = done / Math.max(0.001, (now - started) / 1000);
      const bar = tty ? `[${'#'.repeat(Math.round(frac * 24)).padEnd(24, '-')}] ` : '';
      const eta = rate > 0 ? formatDuration(remaining / rate) : '?';
      const text = `analyze: ${bar}${(frac * 100).toFixed(1)}% ${done}/${total} analysed · ${enqueued} enqueued · ${rate.toFixed(1)}/s · ETA ${eta}`;
      out.write(tty ? `\r${text}` : `${text}\n`);
    };

    let after: string | null = null;
    while (!opts.signal?.aborted) {
      const ids = await repo.unanalysed(after, opts.batch);
      if (ids.length === 0) break;
      for (const id of ids) {
        while (!opts.signal?.aborted && (await queue.getWaitingCount()) >= opts.maxWaiting) {
          remaining = await repo.countUnanalysed();
          render();
          await pause(POLL_MS, opts.signal);
        }
        if (opts.signal?.aborted) break;
        // A job id is kept a while after its job finished: one that ended without facts (asset
        // not ready then, attempts used up) would make the enqueue a no-op. Clear it first.
        const old = await queue.getJob(jobIdFor('analyze', id));
        if (old && ['completed', 'failed'].includes(await old.getState())) await old.remove();
        await queues.enqueue('analyze', { assetId: id });
        enqueued++;
        after = id;
        render();
      }
    }

    if (opts.wait) {
      for (;;) {
        remaining = await repo.countUnanalysed();
        render();
        if (remaining === 0 || opts.signal?.aborted) break;
        const pending = await queue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        if (pending === 0) break;
        await pause(POLL_MS, opts.signal);
      }
    }
    remaining = await repo.countUnanalysed();
    render(true);
    if (tty) out.write('\n');
    if (opts.signal?.aborted) {
      out.write('analyze: interrupted; run the same command again to go on\n');
      return 130;
    }
    if (!opts.wait) return 0;
    if (remaining > 0) {
      out.write(`analyze: ${remaining} assets still have no facts (new, or their jobs ran out of attempts); run again\n`);
      return 3;
    }
    return 0;
  } finally {
    await queues.close();
    redis.disconnect();
    await sql.end();
  }
}
