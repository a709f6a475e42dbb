import { describe, expect, it, jest } from '@jest/globals';
import { RecentObjects } from './recent-objects.js';

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('RecentObjects', () => {
  it('hands out what was stored once, then forgets it', () => {
    const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 60_000 });
    recent.remember('i/a.png', bytes(10, 7));
    expect(recent.take('i/a.png')).toEqual(bytes(10, 7));
    expect(recent.take('i/a.png')).toBeUndefined();
    expect(recent.size).toEqual({ objects: 0, bytes: 0 });
  });

  it('keeps no object over the per-object bound, and drops the oldest past the total', () => {
    const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 60_000 });
    recent.remember('big', bytes(51));
    expect(recent.take('big')).toBeUndefined();
    for (const k of ['a', 'b', 'c']) recent.remember(k, bytes(40));
    expect(recent.size).toEqual({ objects: 2, bytes: 80 });
    expect(recent.take('a')).toBeUndefined();
    expect(recent.take('c')).toBeDefined();
  });

  it('drops entries older than the TTL', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 1000 });
      recent.remember('old', bytes(10));
      jest.setSystemTime(1_002_000);
      expect(recent.take('old')).toBeUndefined();
      recent.remember('x', bytes(10));
      recent.remember('y', bytes(10));
      jest.setSystemTime(1_004_000);
      recent.remember('z', bytes(10));
      expect(recent.size).toEqual({ objects: 1, bytes: 10 });
    } finally {
      jest.useRealTimers();
    }
  });
});
