import { describe, expect, it, jest } from '@jest/globals';
import { RecentObjects } from './recent-objects.js';

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('RecentObjects', () => {
  it('hands out what was stored for an asset once, with its key, then forgets it', () => {
    const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 60_000 });
    recent.remember('asset-a', 'i/a.png', bytes(10, 7));
    expect(recent.take('asset-a')).toEqual({ key: 'i/a.png', bytes: bytes(10, 7) });
    expect(recent.take('asset-a')).toBeUndefined();
    expect(recent.size).toEqual({ objects: 0, bytes: 0 });
  });

  it('a second store for the same asset replaces the first', () => {
    const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 60_000 });
    recent.remember('asset-a', 'i/a-1.png', bytes(10, 1));
    recent.remember('asset-a', 'i/a-2.png', bytes(20, 2));
    expect(recent.size).toEqual({ objects: 1, bytes: 20 });
    expect(recent.take('asset-a')).toEqual({ key: 'i/a-2.png', bytes: bytes(20, 2) });
  });

  it('keeps no object over the per-object bound, and drops the oldest past the total', () => {
    const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 60_000 });
    recent.remember('big', 'i/big.png', bytes(51));
    expect(recent.take('big')).toBeUndefined();
    for (const k of ['a', 'b', 'c']) recent.remember(k, `i/${k}.png`, bytes(40));
    expect(recent.size).toEqual({ objects: 2, bytes: 80 });
    expect(recent.take('a')).toBeUndefined();
    expect(recent.take('c')).toBeDefined();
  });

  it('drops entries older than the TTL', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const recent = new RecentObjects({ maxBytes: 100, maxObjectBytes: 50, ttlMs: 1000 });
      recent.remember('old', 'i/old.png', bytes(10));
      jest.setSystemTime(1_002_000);
      expect(recent.take('old')).toBeUndefined();
      recent.remember('x', 'i/x.png', bytes(10));
      recent.remember('y', 'i/y.png', bytes(10));
      jest.setSystemTime(1_004_000);
      recent.remember('z', 'i/z.png', bytes(10));
      expect(recent.size).toEqual({ objects: 1, bytes: 10 });
    } finally {
      jest.useRealTimers();
    }
  });
});
