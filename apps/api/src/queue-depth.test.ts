import { describe, expect, it } from '@jest/globals';
import { QueueDepthGate } from './queue-depth.js';

/** A queue whose waiting count the test sets, counting reads. */
function fakeQueue(initial = 0) {
  const q = {
    waiting: initial,
    reads: 0,
    read: async () => {
      q.reads++;
      return q.waiting;
    },
  };
  return q;
}

describe('QueueDepthGate', () => {
  it('admits up to the limit within one sample window, counting what it let through', async () => {
    const q = fakeQueue(7);
    const gate = new QueueDepthGate(q.read, 10, 60_000);
    const answers = await Promise.all(Array.from({ length: 6 }, () => gate.admit()));
    expect(answers).toEqual([true, true, true, false, false, false]);
    expect(q.reads).toBe(1); // concurrent requests share one read
  });

  it('a released admission frees its place for the next request', async () => {
    const q = fakeQueue(8);
    const gate = new QueueDepthGate(q.read, 10, 60_000);
    expect(await gate.admit()).toBe(true);
    expect(await gate.admit()).toBe(true);
    expect(await gate.admit()).toBe(false);
    gate.release(); // that request was answered from a stored file: it enqueued nothing
    expect(await gate.admit()).toBe(true);
    expect(await gate.admit()).toBe(false);
  });

  it('keeps counting admissions the next read may not show yet, then forgets them', async () => {
    const q = fakeQueue(0);
    let now = 1_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const gate = new QueueDepthGate(q.read, 3, 250);
      expect(await gate.admit()).toBe(true);
      expect(await gate.admit()).toBe(true);
      // Next window: the two are not enqueued yet (the read says 0), they still count.
      now += 300;
      expect(await gate.admit()).toBe(true);
      expect(await gate.admit()).toBe(false);
      // Two windows on: the workers drained the queue; only this window's admissions count.
      now += 300;
      q.waiting = 0;
      expect(await gate.admit()).toBe(true);
      now += 300;
      expect(await gate.admit()).toBe(true);
      expect(await gate.admit()).toBe(true);
      expect(await gate.admit()).toBe(false);
    } finally {
      Date.now = realNow;
    }
  });
});
