import { loadConfig } from '@rehost/config';
import { createRedis } from '@rehost/jobs';
import { createLogger } from '@rehost/logger';
import { buildDashboard } from './app.js';
import { dashboardConfigSchema } from './config.js';

const config = loadConfig(dashboardConfigSchema);
const log = createLogger({ name: 'dashboard', level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' });
const redis = createRedis(config.REDIS_URL);
const { app, queues } = await buildDashboard(config, redis, log);

async function shutdown() {
  await app.close();
  await Promise.all(queues.map((q) => q.close()));
  redis.disconnect();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
await app.listen({ port: config.DASHBOARD_PORT, host: '0.0.0.0' });
