import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection suitable for BullMQ workers and blocking reads:
 * `maxRetriesPerRequest: null` lets commands wait out a reconnect instead of failing.
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...opts });
}

export type { Redis } from 'ioredis';
