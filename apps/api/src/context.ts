import { AssetsRepo, createSql, type SqlPool } from '@rehost/db';
import { AssetEventHub, createRedis, redisClientName, JobQueues, type Redis } from '@rehost/jobs';
import { createLogger, type Logger } from '@rehost/logger';
import { type ObjectStore, stagingExpiryDaysFor, storeFromEnv } from '@rehost/storage';
import type { ApiConfig } from './config.js';

/** Everything a route needs, built once per process from config. */
export interface ApiContext {
  config: ApiConfig;
  log: Logger;
  /** Plain pg: the per-request statements (AssetsRepo and the routes' repos). */
  sql: SqlPool;
  assets: AssetsRepo;
  redis: Redis;
  queues: JobQueues;
  events: AssetEventHub;
  store: ObjectStore;
  close: () => Promise<void>;
}

/**
 * The API's PostgreSQL connections when DATABASE_POOL_SIZE is unset. Each request holds one for a
 * single short statement; at half load a pool of 10 gave a p99 1.2–4.1× the bare server's and a
 * pool of 4 0.9–2.5×, median 1.3× (docs/BENCHMARKS.md, issue 12, fifth pass): extra connections
 * only add backends waiting on the same WAL flush, on the cores the API needs.
 */
const API_POOL_SIZE = 4;

export async function createApiContext(config: ApiConfig, log?: Logger): Promise<ApiContext> {
  const logger = log ?? createLogger({ name: 'api', level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE ?? API_POOL_SIZE });
  const redis = createRedis(config.REDIS_URL, { connectionName: redisClientName('api') });
  const queues = new JobQueues(redis, config.QUEUE_PREFIX);
  const events = new AssetEventHub(redis, config.QUEUE_PREFIX);
  // Bounded: an API started while Redis is down must still listen (healthz answers, readyz says why).
  await Promise.race([events.start(), new Promise((r) => setTimeout(r, 3000).unref())]);
  const store = storeFromEnv(config);
  if (config.S3_ENSURE_BUCKET) await store.ensureBucket({
      corsOrigins: config.UPLOAD_CORS_ORIGINS,
      publicRead: true,
      stagingExpiryDays: stagingExpiryDaysFor(config.UPLOAD_URL_TTL_SECONDS),
    });
  return {
    config,
    log: logger,
    sql,
    assets: new AssetsRepo(sql),
    redis,
    queues,
    events,
    store,
    close: async () => {
      await events.stop();
      await queues.close();
      redis.disconnect();
      await sql.end();
      store.destroy();
    },
  };
}
