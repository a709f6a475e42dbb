import type { Redis } from '@rehost/jobs';
import { botPauseKey } from './bot-pause.js';
import { redisScript } from './redis-script.js';

/**
 * Unless the bot is paused (KEYS[2], see bot-pause.ts: then minus the milliseconds it still has to
 * wait), counts ARGV[2] calls in a window key and returns the count, setting the key's expiry on the
 * first call: one EVALSHA, one round trip for the pause check and the slot (the
 * `PTTL`+`MULTI`/`INCR`/`PEXPIRE`/`EXEC` it replaces was five commands). Both keys carry the
 * queues' hash tag, so the script is valid on Redis Cluster.
 */
const TAKE_SLOT_LUA = `
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return -paused end
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

const takeSlots = redisScript<[key: string, pauseKey: string, ttlMs: number, calls: number], number>('rehostTakeBotSlot', 2, TAKE_SLOT_LUA);

/**
 * A per-bot rate limit shared by every worker process: a fixed one-second window counted in
 * Redis (same hash tag as the queues), one script call per slot. Telegram limits each bot
 * separately, so one busy bot must not slow another. Resolves with 0 once `calls` slots are taken
 * (in one window: a job takes its getFile's and its download's at once), or with the milliseconds
 * the bot is still paused for (a 429 elsewhere): no slot is taken then.
 */
export async function waitForBotSlot(
  redis: Redis,
  prefix: string,
  bot: string,
  perSecond: number,
  signal?: AbortSignal,
  calls = 1,
): Promise<number> {
  for (;;) {
    signal?.throwIfAborted();
    const now = Date.now();
    const window = Math.floor(now / 1000);
    const count = await takeSlots(redis, `${prefix}:bot-rate:${bot}:${window}`, botPauseKey(prefix, bot), 2000, calls);
    if (count < 0) return -count;
    // More calls at once than a whole window allows still pass, alone in a fresh window.
    if (count <= Math.max(perSecond, calls)) return 0;
    // Over this window's budget: wait for the next one.
    await new Promise((r) => setTimeout(r, 1000 - (now % 1000) + 1));
  }
}
