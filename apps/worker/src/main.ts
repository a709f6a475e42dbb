import { loadConfig } from '@rehost/config';
import { JobQueues, scheduleMaintenance } from '@rehost/jobs';
import { workerConfigSchema } from './config.js';
import { botsFromConfig, createWorkerContext } from './context.js';
import { type OpsServer, startOpsServer } from './http.js';
import { createWorkerMetrics } from './metrics.js';
import { processors } from './processors/index.js';
import { startWorkers } from './worker.js';

const config = loadConfig(workerConfigSchema);
const ctx = createWorkerContext(config);

// Queue handles for the depth gauge only (they share the worker's connection).
const queues = new JobQueues(ctx.redis, config.QUEUE_PREFIX);
const metrics = createWorkerMetrics({ queues: Object.values(queues.queues) });
ctx.store.onOp = metrics.storeOp;
ctx.onMetadataRemoved = metrics.metadataRemoved;
ctx.onAnalysis = metrics.imageAnalysis;
// The context's registry has no hooks: rebuild it with the error counter (same bots, same tokens).
ctx.bots = botsFromConfig(config, { onApiError: metrics.telegramError });

const running = startWorkers(ctx, processors, {
  onJobDone: (queue, outcome, seconds, storedBytes) => {
    metrics.jobDone(queue, outcome, seconds);
    if (storedBytes > 0) metrics.storedBytes.inc({ queue }, storedBytes);
  },
});

let ops: OpsServer | undefined;
if (config.WORKER_METRICS_PORT > 0) {
  try {
    ops = await startOpsServer({ port: config.WORKER_METRICS_PORT, registry: metrics.registry, log: ctx.log });
  } catch (err) {
    ctx.log.fatal({ err, port: config.WORKER_METRICS_PORT }, 'cannot listen on WORKER_METRICS_PORT');
    process.exit(1);
  }
}
ctx.log.info({ concurrency: config.WORKER_CONCURRENCY, metricsPort: ops?.port ?? null }, 'worker started');
// Every worker registers the same schedulers (one id per task): idempotent, and any worker may run them.
// Not awaited: a Redis that is down at start must not hold the worker back (commands wait for it).
const schedule = () =>
  scheduleMaintenance(queues.queues.maintenance, config.MAINTENANCE_INTERVAL_MS).then(
    () => ctx.log.info({ everyMs: config.MAINTENANCE_INTERVAL_MS }, 'maintenance scheduled'),
    (err: unknown) => ctx.log.error({ err }, 'maintenance scheduling failed'),
  );
void schedule();
// Again on every reconnect: a Redis that came back empty (restarted without persistence, failed over)
// lost the schedulers with the queues, and the sweeper is what re-enqueues the jobs it lost.
ctx.redis.on('ready', () => void schedule());

/** Past the jobs' grace and their abort (worker.ts), what closing connections may take before we exit anyway. */
const HARD_EXIT_AFTER_GRACE_MS = 4000;

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  ctx.log.info({ signal }, 'shutting down: finishing running jobs');
  // A Redis, PostgreSQL or store that stopped answering must not keep the process past a bound.
  setTimeout(() => {
    ctx.log.error({ afterMs: config.WORKER_SHUTDOWN_GRACE_MS + HARD_EXIT_AFTER_GRACE_MS }, 'shutdown did not finish in time; exiting');
    process.exit(1);
  }, config.WORKER_SHUTDOWN_GRACE_MS + HARD_EXIT_AFTER_GRACE_MS).unref();
  await running.close();
  await queues.close();
  // /healthz keeps answering while jobs drain: the process is alive until here.
  await ops?.close();
  await ctx.close();
  ctx.log.info('worker stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
