import { loadConfig } from '@rehost/config';
import { buildApp } from './app.js';
import { apiConfigSchema } from './config.js';
import { createApiContext } from './context.js';

const config = loadConfig(apiConfigSchema);
const ctx = await createApiContext(config);
const app = await buildApp(ctx);
if (config.API_TOKENS.length === 0) ctx.log.warn('API_ALLOW_ANONYMOUS=true and no API_TOKENS: /v1 routes accept requests without a token');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  ctx.log.info({ signal }, 'shutting down: draining requests');
  // app.close() stops accepting and waits for in-flight requests; the timer bounds it.
  const force = setTimeout(() => process.exit(1), 15_000).unref();
  // Kept-alive idle connections would hold close() until the force timer: let them go.
  app.server.keepAliveTimeout = 1;
  await app.close();
  await ctx.close();
  clearTimeout(force);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await app.listen({ port: config.API_PORT, host: config.API_HOST });
