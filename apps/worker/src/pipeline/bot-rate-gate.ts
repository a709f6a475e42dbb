import type { Redis } from '@rehost/jobs';
import { botPauseKey } from './bot-pause.js';

/**
 * Unless the bot is paused (KEYS[2], see bot-pause.ts: then minus the milliseconds it still has to
 * wait), counts one call in a window key and returns the count, setting the key's expiry on the
 * first call: one EVALSHA, one round trip for the pause check and the slot (the
 * `PTTL`+`MULTI`/`INCR`/`PEXPIRE`/`EXEC` it replaces was five commands). Both keys carry the
 * queues' hash tag, so the script is valid on Redis Cluster.
 */
const TAKE_SLOT_LUA = `
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return -paused end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

interface WithTakeSlot {
  rehostTakeBotSlot(key: string, pauseKey: string, ttlMs: number): Promise<number>;
}

const defined = new WeakSet<object>();

/** The connection with the script command on it (defined once per connection; ioredis loads it lazily). */
function withTakeSlot(redis: Redis): WithTakeSlot {
  if (!defined.has(redis)) {
    redis.defineCommand('rehostTakeBotSlot', { numberOfKeys: 2, lua: TAKE_SLOT_LUA });
    defined.add(redis);
  }
  return redis as unknown as WithTakeSlot;
}

/**
 * A per-bot rate limit shared by every worker process: a fixed one-second window counted in
 * Redis (same hash tag as the queues), one script call per slot. Telegram limits each bot
 * separately, so one busy bot must not slow another. Resolves with 0 once a slot is taken, or
 * with the milliseconds the bot is still paused for (a 429 elsewhere): no slot is taken then.
 */
export async function waitForBotSlot(redis: Redis, prefix: string, bot: string, perSecond: number, signal?: AbortSignal): Promise<number> {
  const gate = withTakeSlot(redis);
  for (;;) {
    signal?.throwIfAborted();
    const now = Date.now();
    const window = Math.floor(now / 1000);
    const count = await gate.rehostTakeBotSlot(`${prefix}:bot-rate:${bot}:${window}`, botPauseKey(prefix, bot), 2000);
    if (count < 0) return -count;
    if (count <= perSecond) return 0;
    // Over this window's budget: wait for the next one.
    await new Promise((r) => setTimeout(r, 1000 - (now % 1000) + 1));
  }
}
