import { loadConfig } from '@rehost/config';
import { workerConfigSchema } from './config.js';
import { createWorkerContext } from './context.js';
import { processors } from './processors/index.js';
import { startWorkers } from './worker.js';

const config = loadConfig(workerConfigSchema);
const ctx = createWorkerContext(config);
const running = startWorkers(ctx, processors);
ctx.log.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker started');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  ctx.log.info({ signal }, 'shutting down: finishing running jobs');
  await running.close();
  await ctx.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
