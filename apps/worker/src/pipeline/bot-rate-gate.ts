import type { Redis } from '@rehost/jobs';

/**
 * A per-bot rate limit shared by every worker process: a fixed one-second window
 * counted in Redis (`INCR` + `PEXPIRE`, same hash tag as the queues). Telegram limits
 * each bot separately, so one busy bot must not slow another; the BullMQ limiter on the
 * rehost queue stays as the global bound.
 */
export async function waitForBotSlot(redis: Redis, prefix: string, bot: string, perSecond: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    const now = Date.now();
    const window = Math.floor(now / 1000);
    const key = `${prefix}:bot-rate:${bot}:${window}`;
    const [[, count]] = (await redis.multi().incr(key).pexpire(key, 2000).exec()) as [[null, number], [null, number]];
    if (count <= perSecond) return;
    // Over this window's budget: wait for the next one.
    await new Promise((r) => setTimeout(r, 1000 - (now % 1000) + 1));
  }
}
