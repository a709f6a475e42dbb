import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestRedis, type TestRedis } from '@rehost/testing';
import { botPausedFor, pauseBot } from './bot-pause.js';

let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis();
});
afterAll(async () => {
  await r.cleanup();
});

describe('bot pause (real Redis)', () => {
  it('pauses one bot only, for about the given time', async () => {
    expect(await botPausedFor(r.redis, r.prefix, 'a')).toBe(0);
    expect(await pauseBot(r.redis, r.prefix, 'a', 3000)).toBe(3000);
    const left = await botPausedFor(r.redis, r.prefix, 'a');
    expect(left).toBeGreaterThan(2000);
    expect(left).toBeLessThanOrEqual(3000);
    expect(await botPausedFor(r.redis, r.prefix, 'b')).toBe(0);
  });

  it('a shorter retry_after never shortens a pause; a longer one extends it', async () => {
    await pauseBot(r.redis, r.prefix, 'c', 5000);
    expect(await pauseBot(r.redis, r.prefix, 'c', 1000)).toBeGreaterThan(4000);
    expect(await botPausedFor(r.redis, r.prefix, 'c')).toBeGreaterThan(4000);
    expect(await pauseBot(r.redis, r.prefix, 'c', 9000)).toBe(9000);
    expect(await botPausedFor(r.redis, r.prefix, 'c')).toBeGreaterThan(8000);
  });
});
