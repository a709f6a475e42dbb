import type { Redis } from '@rehost/jobs';
import { redisScript } from './redis-script.js';

/**
 * A bot that Telegram told to slow down (429 `retry_after`) is paused for every worker process:
 * `<prefix>:bot-paused:<bot>` exists until it may call again (its TTL is the wait, so clocks of
 * different hosts do not matter; same hash tag as the queues). Only that bot's jobs look at it; other bots and `url` sources never wait for it.
 */
export const botPauseKey = (prefix: string, bot: string) => `${prefix}:bot-paused:${bot}`;
const key = botPauseKey;

/** Keeps the later of the current pause and `untilMs` (a shorter retry_after never shortens a pause). */
const PAUSE_LUA = `
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) return ms end
return left
`;

const pauseScript = redisScript<[key: string, ms: number], number>('rehostPauseBot', 1, PAUSE_LUA);

/** Pauses `bot` for at least `ms`; resolves with how long its pause now lasts. */
export async function pauseBot(redis: Redis, prefix: string, bot: string, ms: number): Promise<number> {
  return Number(await pauseScript(redis, key(prefix, bot), Math.max(1, Math.ceil(ms))));
}

/** Milliseconds `bot` must still wait, 0 when it may call Telegram now. */
export async function botPausedFor(redis: Redis, prefix: string, bot: string): Promise<number> {
  return Math.max(0, await redis.pttl(key(prefix, bot)));
}
