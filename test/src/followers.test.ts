/**
 * Followers that never give up (issue 16, item 3): requests whose file another asset is storing
 * wait for it with delayed re-checks that spend no attempt and call no getFile, then share its
 * object — or, when the holder fails, one of them stores the file itself.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, sha256, startBotApiDouble } from '@rehost/testing';
import { heldDownload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

const FOLLOWERS = 40;
let stack: Stack;
let bot: BotApiDouble;

beforeAll(async () => {
  bot = await startBotApiDouble();
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: bot.token, TELEGRAM_API_BASE_URL: bot.baseUrl, WORKER_CONCURRENCY: '4' } });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
});

const rehost = async (fileId: string): Promise<string> => {
  const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId } } });
  expect(res.status).toBe(202);
  return res.body.assetId as string;
};
const jobOf = (assetId: string) => stack.apiCtx.queues.queues.rehost.getJob(`rehost-${assetId}`);

/** Bounded poll of the followers' own job records until each has re-checked at least `count` times. */
async function untilRechecked(ids: string[], count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await Promise.all(ids.map(jobOf));
    if (jobs.every((j) => (j?.data.waiting?.count ?? 0) >= count)) return;
    if (Date.now() > deadline) throw new Error(`followers did not re-check ${count} times within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('dedupe followers', () => {
  it(`${FOLLOWERS} followers of a holder slower than the old retry budget all end ready: one download, one getFile each, no attempt spent`, async () => {
    const bytes = makePng(45, 44);
    const ids = { fileId: 'followers-slow', fileUniqueId: 'followers-slow-u' };
    // Slow but alive: the followers' nine re-checks take ~28 s alone and longer on a busy machine,
    // past the worker's 30 s download idle timeout, which would otherwise fail the holder's attempt.
    const { downloading, release } = heldDownload(bot, ids, bytes, { trickleEveryMs: 5000 });
    const holder = await rehost(ids.fileId);
    await downloading;
    const getFiles = bot.stats.getFile;
    const followers = await Promise.all(Array.from({ length: FOLLOWERS }, () => rehost(ids.fileId)));
    // The old followers retried as `conflict` with 8 attempts; these re-check more often than that and keep waiting.
    await untilRechecked(followers, 9, 90_000);
    const waiting = await Promise.all(followers.map(jobOf));
    expect(waiting.map((j) => j?.attemptsMade)).toEqual(Array(FOLLOWERS).fill(0));
    expect(bot.stats.getFile - getFiles).toBe(FOLLOWERS); // each follower's own getFile, none per re-check

    release();
    const released = Date.now();
    const held = await waitTerminal(stack, holder, 30_000);
    expect(held.status).toBe('ready');
    const assets = await Promise.all(followers.map((id) => waitTerminal(stack, id, 30_000)));
    const latency = (Date.now() - released) / 1000;
    console.info(`followers: ${FOLLOWERS} ready ${latency.toFixed(2)} s after the holder's download ended`);
    // Woken by the holder, not by their timers: at 5 s between re-checks, 40 timers would almost
    // surely leave one follower waiting past 4 s (measured 4.96 s without the wake, ~1 s with it).
    expect(latency).toBeLessThan(4);
    expect(assets.map((a) => a.status)).toEqual(Array(FOLLOWERS).fill('ready'));
    expect(new Set(assets.map((a) => a.url))).toEqual(new Set([held.url]));
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(1);
    expect(bot.stats.getFile - getFiles).toBe(FOLLOWERS);
  });

  it('a holder that fails for good: one follower takes over and stores the file, the others share it; no message names another asset', async () => {
    const bytes = makePng(46, 47);
    const ids = { fileId: 'followers-failed', fileUniqueId: 'followers-failed-u' };
    const first = new PassThrough();
    let started!: () => void;
    const downloading = new Promise<void>((r) => (started = r));
    let calls = 0;
    bot.addFile({
      ...ids,
      size: bytes.length,
      body: () => {
        calls++;
        if (calls > 1) return PassThrough.from([bytes]) as unknown as PassThrough;
        started();
        return first;
      },
    });
    const holder = await rehost(ids.fileId);
    await downloading;
    const followers = await Promise.all(Array.from({ length: 10 }, () => rehost(ids.fileId)));
    await untilRechecked(followers, 1, 30_000);
    // The holder's download turns out not to be an image: it fails for good and lets go of the file.
    first.end(Buffer.alloc(bytes.length, 0x41));
    const failed = await waitTerminal(stack, holder, 30_000);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'not_an_image' } });
    const assets = await Promise.all(followers.map((id) => waitTerminal(stack, id, 60_000)));
    expect(assets.map((a) => a.status)).toEqual(Array(10).fill('ready'));
    expect(new Set(assets.map((a) => a.url)).size).toBe(1);
    expect(assets[0].sha256).toBe(sha256(bytes));
    expect(bot.stats.downloadsByFileId.get(ids.fileId)).toBe(2); // the holder's, and the one follower's that took over
    for (const job of await Promise.all(followers.map(jobOf))) {
      expect(JSON.stringify(job?.data)).not.toContain(holder);
      expect(job?.failedReason ?? '').not.toContain(holder);
      expect((job?.stacktrace ?? []).join('\n')).not.toContain(holder);
    }
  });
});
