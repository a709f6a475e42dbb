/**
 * (5) The Bot API misbehaving: getFile answers 429 (retry_after) and 502 (nginx HTML), downloads
 * answer 502 or are cut off halfway through the body. A second bot, on its own Bot API server,
 * is throttled throughout (429 retry_after 3, again and again): its jobs wait, the first bot's
 * do not wait for it, and no job fails for attempts.
 */
import { startBotApiDouble } from '../../packages/testing/src/index.js';
import { addFiles } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { mapLimit, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

export const telegramFaults: Scenario = {
  name: 'telegram-429-502-cuts',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 10 : 30;
    const k = run.smoke ? 2 : 6;
    const size = 300_000;
    const throttles = run.smoke ? 4 : 8;
    const fault = `Bot API: ${k}× getFile 429 (retry_after 1), ${k}× getFile 502, ${k}× download 502, ${k}× download cut at half; a second bot answering ${throttles}× getFile 429 (retry_after 3)`;
    const throttledBot = await startBotApiDouble({ maxDownloadBytes: 64 * 1024 * 1024 });
    const stage = await openStage(this.name, run, {
      WORKER_CONCURRENCY: '4',
      TELEGRAM_BOTS: `throttled=${throttledBot.token}@${throttledBot.baseUrl}`,
    });
    try {
      const api = await stage.startApi();
      await Promise.all([stage.startWorker(), stage.startWorker()]);
      const client = stage.client(api.baseUrl);
      const files = addFiles(stage.bot, 'tg', n, { size });
      const throttledFiles = addFiles(throttledBot, 'tg-throttled', n, { size });
      const { bot } = stage;
      bot.failNext('getFile', k, { status: 429, retryAfter: 1 });
      bot.failNext('getFile', k, { status: 502 });
      bot.failNext('download', k, { status: 502 });
      bot.failNext('download', k, { cutAfterBytes: Math.floor(files[0]!.bytes.length / 2) });
      throttledBot.failNext('getFile', throttles, { status: 429, retryAfter: 3 });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      // Both bots' files interleaved, as two busy bots send them.
      const both = files.flatMap((f, i) => [{ f, bot: undefined as string | undefined }, { f: throttledFiles[i]!, bot: 'throttled' }]);
      const subs = await mapLimit(both, 6, ({ f, bot }) => submitTelegram(client, f, { deadline, ...(bot ? { bot } : {}) }));
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: {} });
      result.notes.getFile = bot.stats.getFile;
      result.notes.downloads = bot.stats.downloads;
      result.notes.throttledGetFile = throttledBot.stats.getFile;
      result.checks.push({ name: 'every fault was served', ok: bot.stats.getFile >= n + 2 * k && bot.stats.downloads >= n + 2 * k });
      result.checks.push({ name: 'the throttled bot was throttled throughout', ok: throttledBot.stats.getFile >= n + throttles });
      result.summary = `${bot.stats.getFile} getFile calls, ${bot.stats.downloads} downloads for ${n} files; throttled bot: ${throttledBot.stats.getFile} getFile calls for ${n} files`;
      return result;
    } finally {
      await stage.close();
      await throttledBot.close();
    }
  },
};
