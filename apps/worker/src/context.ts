import { AssetsRepo, createSql, type SqlPool } from '@rehost/db';
import { createRedis, type Redis, redisClientName } from '@rehost/jobs';
import { createLogger, type Logger } from '@rehost/logger';
import { type ObjectStore, storeFromEnv } from '@rehost/storage';
import { type BotClientOptions, BotRegistry } from '@rehost/telegram';
import type { WorkerConfig } from './config.js';
import { RecentObjects } from './pipeline/recent-objects.js';

/** What processors use; built once per worker process. */
export interface WorkerContext {
  config: WorkerConfig;
  log: Logger;
  /** Plain pg: every statement (AssetsRepo per job; the sweeper's and the webhook log's repos). */
  sql: SqlPool;
  assets: AssetsRepo;
  redis: Redis;
  store: ObjectStore;
  bots: BotRegistry;
  /** Bytes of small objects just stored, for their `analyze` job (absent when analysis is off). */
  recentObjects?: RecentObjects;
  /** Counts the kinds of metadata a stored image had removed (worker metrics); never the values. */
  onMetadataRemoved?: (kinds: readonly string[]) => void;
  /** Counts image analyses by outcome (metrics; set by main.ts, absent in tests that do not count). */
  onAnalysis?: (outcome: 'decoded' | 'copied' | 'undecodable', reason?: string) => void;
  close: () => Promise<void>;
}

export function createWorkerContext(config: WorkerConfig, log?: Logger): WorkerContext {
  const logger = log ?? createLogger({ name: 'worker', level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE ?? Math.max(4, config.WORKER_CONCURRENCY + 2) });
  const redis = createRedis(config.REDIS_URL, { connectionName: redisClientName('worker') });
  const store = storeFromEnv(config);
  // A streamed file's peak memory stays flat whatever its size: after each part, a young-generation
  // collection frees the network chunks the part was copied from. `gc` is there when the process
  // runs with --expose-gc, as production does (scripts/node-flags.json; docs/BENCHMARKS.md, `memory`).
  const { gc } = globalThis;
  if (gc) store.onPartFilled = () => gc({ type: 'minor' });
  const bots = botsFromConfig(config);
  return {
    config,
    log: logger,
    sql,
    assets: new AssetsRepo(sql),
    redis,
    store,
    bots,
    // A few seconds of small images at full speed: 64 MB at most, none over 4 MiB, a minute each.
    ...(config.ANALYZE_IMAGES ? { recentObjects: new RecentObjects({ maxBytes: 64_000_000, maxObjectBytes: 4 * 1024 * 1024, ttlMs: 60_000 }) } : {}),
    close: async () => {
      redis.disconnect();
      await sql.end();
      store.destroy();
    },
  };
}

/**
 * The configured bots as workers use them. Every 429 reaches the job (no retry_after is waited out
 * inside a call, holding a slot): the runner delays that bot's jobs instead (worker.ts).
 */
export function botsFromConfig(config: WorkerConfig, opts: BotClientOptions = {}): BotRegistry {
  return BotRegistry.fromConfig(config.TELEGRAM_BOT_TOKEN, config.TELEGRAM_BOTS, config.TELEGRAM_API_BASE_URL, {
    maxRetryAfterSeconds: 0,
    timeoutMs: config.TELEGRAM_REQUEST_TIMEOUT_MS,
    localFiles: {
      dir: config.TELEGRAM_LOCAL_FILES_DIR,
      baseUrl: config.TELEGRAM_LOCAL_FILES_BASE_URL,
      serverDir: config.TELEGRAM_LOCAL_SERVER_DIR,
    },
    ...opts,
  });
}
