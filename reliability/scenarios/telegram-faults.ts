/**
 * (5) The Bot API misbehaving: getFile answers 429 (retry_after) and 502 (nginx HTML), downloads
 * answer 502 or are cut off halfway through the body.
 */
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
    const fault = `Bot API: ${k}× getFile 429 (retry_after 1), ${k}× getFile 502, ${k}× download 502, ${k}× download cut at half`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '4' });
    try {
      const api = await stage.startApi();
      await Promise.all([stage.startWorker(), stage.startWorker()]);
      const client = stage.client(api.baseUrl);
      const files = addFiles(stage.bot, 'tg', n, { size });
      const { bot } = stage;
      bot.failNext('getFile', k, { status: 429, retryAfter: 1 });
      bot.failNext('getFile', k, { status: 502 });
      bot.failNext('download', k, { status: 502 });
      bot.failNext('download', k, { cutAfterBytes: Math.floor(files[0]!.bytes.length / 2) });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      const subs = await mapLimit(files, 6, (f) => submitTelegram(client, f, { deadline }));
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: {} });
      result.notes.getFile = bot.stats.getFile;
      result.notes.downloads = bot.stats.downloads;
      result.checks.push({ name: 'every fault was served', ok: bot.stats.getFile >= n + 2 * k && bot.stats.downloads >= n + 2 * k });
      result.summary = `${bot.stats.getFile} getFile calls, ${bot.stats.downloads} downloads for ${n} files`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
