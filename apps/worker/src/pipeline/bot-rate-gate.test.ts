import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestRedis, type TestRedis } from '@rehost/testing';
import { pauseBot } from './bot-pause.js';
import { waitForBotSlot } from './bot-rate-gate.js';

let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis();
});
afterAll(async () => {
  await r.cleanup();
});

describe('waitForBotSlot (real Redis)', () => {
  it('lets `perSecond` calls through per bot per window and holds the next', async () => {
    const windowsSeen = new Map<string, Set<number>>();
    const take = async (bot: string) => {
      await waitForBotSlot(r.redis, r.prefix, bot, 3);
      const set = windowsSeen.get(bot) ?? new Set();
      set.add(Math.floor(Date.now() / 1000));
      windowsSeen.set(bot, set);
    };
    // 7 calls for bot a need at least 3 one-second windows; bot b's 3 calls are not held by a's.
    const started = Date.now();
    await Promise.all([...Array.from({ length: 7 }, () => take('a')), ...Array.from({ length: 3 }, () => take('b'))]);
    expect(windowsSeen.get('a')!.size).toBeGreaterThanOrEqual(3);
    expect(windowsSeen.get('b')!.size).toBeLessThanOrEqual(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('takes a slot with one command (one round trip) and lets the window key expire', async () => {
    const conn = r.redis.duplicate();
    try {
      await waitForBotSlot(conn, r.prefix, 'c', 10); // loads the script (EVALSHA, or EVAL after NOSCRIPT)
      const sent: string[] = [];
      const send = conn.sendCommand.bind(conn);
      conn.sendCommand = ((cmd: { name: string }) => {
        sent.push(cmd.name);
        return send(cmd as Parameters<typeof send>[0]);
      }) as typeof conn.sendCommand;
      await waitForBotSlot(conn, r.prefix, 'c', 10);
      expect(sent).toEqual(['evalsha']);
      const keys = await r.redis.keys(`${r.prefix}:bot-rate:c:*`);
      expect(keys.length).toBeGreaterThanOrEqual(1);
      const ttl = await r.redis.pttl(keys[0]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(2000);
    } finally {
      conn.disconnect();
    }
  });

  it('answers how long a paused bot still waits, in the same round trip, and takes no slot for it', async () => {
    await pauseBot(r.redis, r.prefix, 'p', 5000);
    const left = await waitForBotSlot(r.redis, r.prefix, 'p', 10);
    expect(left).toBeGreaterThan(4000);
    expect(left).toBeLessThanOrEqual(5000);
    expect(await r.redis.keys(`${r.prefix}:bot-rate:p:*`)).toEqual([]);
    expect(await waitForBotSlot(r.redis, r.prefix, 'other', 10)).toBe(0);
  });

  it('takes several slots in one round trip: a getFile and its download count as two calls', async () => {
    // 4 per second, 2 per job: two jobs fit a window, the third waits for the next one.
    const windows: number[] = [];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        await waitForBotSlot(r.redis, r.prefix, 'pair', 4, undefined, 2);
        windows.push(Math.floor(Date.now() / 1000));
      }),
    );
    expect(new Set(windows).size).toBe(2);
    // More at once than a window allows (a rate of 1): alone in a fresh window, it still passes.
    expect(await waitForBotSlot(r.redis, r.prefix, 'slow', 1, undefined, 2)).toBe(0);
  });
});

