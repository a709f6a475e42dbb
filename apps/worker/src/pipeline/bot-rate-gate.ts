import type { Redis } from '@rehost/jobs';

/**
 * Counts one call in a window key and returns the count, setting the key's expiry on the first
 * call: one EVALSHA, one round trip (the `MULTI`/`INCR`/`PEXPIRE`/`EXEC` it replaces was four
 * commands). The key is passed in KEYS and carries the queues' hash tag, so the script is valid
 * on Redis Cluster.
 */
const TAKE_SLOT_LUA = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

interface WithTakeSlot {
  rehostTakeBotSlot(key: string, ttlMs: number): Promise<number>;
}

const defined = new WeakSet<object>();

/** The connection with the script command on it (defined once per connection; ioredis loads it lazily). */
function withTakeSlot(redis: Redis): WithTakeSlot {
  if (!defined.has(redis)) {
    redis.defineCommand('rehostTakeBotSlot', { numberOfKeys: 1, lua: TAKE_SLOT_LUA });
    defined.add(redis);
  }
  return redis as unknown as WithTakeSlot;
}

/**
 * A per-bot rate limit shared by every worker process: a fixed one-second window counted in
 * Redis (same hash tag as the queues), one script call per slot. Telegram limits each bot
 * separately, so one busy bot must not slow another; the BullMQ limiter on the rehost queue
 * stays as the global bound.
 */
export async function waitForBotSlot(redis: Redis, prefix: string, bot: string, perSecond: number, signal?: AbortSignal): Promise<void> {
  const gate = withTakeSlot(redis);
  for (;;) {
    signal?.throwIfAborted();
    const now = Date.now();
    const window = Math.floor(now / 1000);
    const count = await gate.rehostTakeBotSlot(`${prefix}:bot-rate:${bot}:${window}`, 2000);
    if (count <= perSecond) return;
    // Over this window's budget: wait for the next one.
    await new Promise((r) => setTimeout(r, 1000 - (now % 1000) + 1));
  }
}
