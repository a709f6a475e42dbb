import type { Redis } from '@rehost/jobs';

/**
 * A Lua script as a command of its own on `redis`, called by EVALSHA (one command, one round trip;
 * ioredis loads the script on first use). Defined once per connection, however often it is asked for.
 */
export function redisScript<Args extends (string | number)[], Reply>(
  name: string,
  numberOfKeys: number,
  lua: string,
): (redis: Redis, ...args: Args) => Promise<Reply> {
  const defined = new WeakSet<Redis>();
  return (redis, ...args) => {
    if (!defined.has(redis)) {
      redis.defineCommand(name, { numberOfKeys, lua });
      defined.add(redis);
    }
    return (redis as unknown as Record<string, (...a: Args) => Promise<Reply>>)[name]!(...args);
  };
}
