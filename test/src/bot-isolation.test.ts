/**
 * One bot's trouble stays its own (issue 16): a 429 pauses only that bot's jobs, for retry_after,
 * without spending their attempts; other bots and url sources keep flowing. Telegram's "wrong
 * file_id or the file is temporarily unavailable" is retried a few times before it is permanent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { finishedJob, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

let stack: Stack;
let botA: BotApiDouble;
let botB: BotApiDouble;
let origin: http.Server;
let originUrl: string;
const png = makePng(16, 16);

beforeAll(async () => {
  botA = await startBotApiDouble();
  botB = await startBotApiDouble();
  origin = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  stack = await startStack({
    env: {
      // Each bot on its own Bot API server (token@origin), so one can be throttled alone.
      TELEGRAM_BOTS: `a=${botA.token}@${botA.baseUrl},b=${botB.token}@${botB.baseUrl}`,
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      WORKER_CONCURRENCY: '4',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await botA?.close();
  await botB?.close();
  origin?.closeAllConnections();
  await new Promise((r) => origin?.close(r));
});

let n = 0;
function addFile(bot: BotApiDouble, tag: string) {
  n++;
  const ids = { fileId: `iso-${tag}-${n}`, fileUniqueId: `iso-u-${tag}-${n}` };
  bot.addFile({ ...ids, bytes: makePng(10 + (n % 50), 12) });
  return ids;
}

const rehost = async (source: Record<string, unknown>): Promise<string> => {
  const res = await stack.call('/v1/rehost', { method: 'POST', json: { source } });
  expect(res.status).toBe(202);
  return res.body.assetId as string;
};

const queue = () => stack.apiCtx.queues.queues.rehost;

/** B's and url's 50 jobs each with nothing throttled: their normal time on this machine, now. */
let normalSeconds = 0;

describe('per-bot isolation', () => {
  it('baseline: bot B and url sources, 50 jobs each, nothing throttled', async () => {
    const started = Date.now();
    const ids = await Promise.all([
      ...Array.from({ length: 50 }, () => rehost({ type: 'telegram', bot: 'b', ...addFile(botB, 'base-b') })),
      ...Array.from({ length: 50 }, (_, i) => rehost({ type: 'url', url: `${originUrl}/base-${i}.png` })),
    ]);
    const done = await Promise.all(ids.map((id) => waitTerminal(stack, id, 60_000)));
    expect(done.map((a) => a.status)).toEqual(Array(100).fill('ready'));
    normalSeconds = (Date.now() - started) / 1000;
  });

  it('bot A answering 429 retry_after=3 again and again holds up neither bot B nor url sources; A ends all ready, no attempt spent', async () => {
    const THROTTLES = 8;
    botA.failNext('getFile', THROTTLES, { status: 429, retryAfter: 3 });
    const started = Date.now();
    const aIds = await Promise.all(Array.from({ length: 50 }, () => rehost({ type: 'telegram', bot: 'a', ...addFile(botA, 'a') })));
    const others = await Promise.all([
      ...Array.from({ length: 50 }, () => rehost({ type: 'telegram', bot: 'b', ...addFile(botB, 'b') })),
      ...Array.from({ length: 50 }, (_, i) => rehost({ type: 'url', url: `${originUrl}/img-${i}.png` })),
    ]);

    const done = await Promise.all(others.map((id) => waitTerminal(stack, id, 60_000)));
    const othersSeconds = (Date.now() - started) / 1000;
    expect(done.map((a) => a.status)).toEqual(Array(100).fill('ready'));
    // While B and url finished, A was still held back: its throttle did not reach them.
    const aNow = await Promise.all(aIds.map(async (id) => (await stack.call(`/v1/assets/${id}`)).body.status as string));
    expect(aNow.filter((s) => s !== 'ready').length).toBeGreaterThan(0);

    const aDone = await Promise.all(aIds.map((id) => waitTerminal(stack, id, 120_000)));
    const aSeconds = (Date.now() - started) / 1000;
    expect(aDone.map((a) => a.status)).toEqual(Array(50).fill('ready'));
    // Every 429 was served (A really was throttled repeatedly), and none cost a job an attempt.
    expect(botA.stats.getFile).toBeGreaterThanOrEqual(50 + THROTTLES);
    // BullMQ counts the run that completes a job as its attempt: 1 means no run was spent on a 429.
    const attempts = await Promise.all(aIds.map(async (id) => (await finishedJob(queue(), `rehost-${id}`)).attemptsMade));
    expect(attempts).toEqual(Array(50).fill(1));
    expect(othersSeconds).toBeLessThan(aSeconds);
    // Within their normal time: A's 50 jobs share the slots (each delayed at once while A is paused),
    // so some slack, but nowhere near A's pauses (8 × 3 s).
    expect(othersSeconds).toBeLessThan(2 * normalSeconds + 3);
    console.info(
      `bot isolation: B + url (100 jobs) ready after ${othersSeconds.toFixed(1)} s (alone: ${normalSeconds.toFixed(1)} s); throttled A (50 jobs) after ${aSeconds.toFixed(1)} s`,
    );
  });

  it('"wrong file_id or the file is temporarily unavailable" is retried: once → ready', async () => {
    const ids = addFile(botB, 'temp-once');
    botB.failNext('getFile', 1, { status: 400, description: 'Bad Request: wrong file_id or the file is temporarily unavailable' });
    const id = await rehost({ type: 'telegram', bot: 'b', ...ids });
    expect((await waitTerminal(stack, id, 30_000)).status).toBe('ready');
    // The ready event goes out just before BullMQ records the job's completion: wait for that (bounded).
    expect((await finishedJob(queue(), `rehost-${id}`)).attemptsMade).toBe(2); // the failed run and the one that stored it
  });

  it('"wrong file_id or the file is temporarily unavailable" every time → failed for good after 3 runs', async () => {
    const ids = addFile(botB, 'temp-always');
    const before = botB.stats.getFile;
    botB.failNext('getFile', 3, { status: 400, description: 'Bad Request: wrong file_id or the file is temporarily unavailable' });
    const id = await rehost({ type: 'telegram', bot: 'b', ...ids });
    const asset = await waitTerminal(stack, id, 30_000);
    expect(asset).toMatchObject({ status: 'failed', error: { code: 'telegram_invalid_file' } });
    expect(botB.stats.getFile - before).toBe(3);
  });
});
