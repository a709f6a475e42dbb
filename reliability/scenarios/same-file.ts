/**
 * (6) The same file requested concurrently by 20 clients: Telegram files (half the clients name
 * the fileUniqueId, half do not, so the server learns it from getFile), and a URL whose clients
 * all send the same idempotency key. One download and one object per file are promised, and one
 * asset per idempotency key. Naming a fileUniqueId is not a claim to an asset: every request that
 * is not a retry gets its own asset sharing the stored bytes (CONTRACT.md §3).
 */
import { addFiles, startOrigin } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram, submitUrl } from '../lib/submit.js';
import { type Submission, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

const CLIENTS = 20;

export const sameFile: Scenario = {
  name: 'same-file-20-clients',
  async run(run) {
    const started = Date.now();
    const nFiles = run.smoke ? 2 : 5;
    const fault = `${CLIENTS} concurrent requests per file: ${nFiles} Telegram files (half naming fileUniqueId) and 1 URL (one idempotency key)`;
    const stage = await openStage(this.name, run, {
      WORKER_CONCURRENCY: '4',
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
    });
    const origin = await startOrigin();
    try {
      const api = await stage.startApi();
      await Promise.all([stage.startWorker(), stage.startWorker()]);
      const client = stage.client(api.baseUrl);
      // Slow enough that requests for one file overlap with its first download.
      const files = addFiles(stage.bot, 'same', nFiles, { size: 500_000, bytesPerSecond: 1_000_000 });
      const urlBytes = files[0]!.bytes.subarray(0); // same bytes, other source: its own object
      const url = origin.add('same.png', urlBytes);
      const urlKey = crypto.randomUUID();
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);

      const calls: Promise<Submission>[] = [];
      for (let c = 0; c < CLIENTS; c++) {
        for (const f of files) {
          // Each request has its own idempotency key: its own asset, one object per file.
          calls.push(submitTelegram(client, f, { deadline, withUniqueId: c % 2 === 0 }));
        }
        calls.push(submitUrl(client, url, { sha256: files[0]!.sha256 }, { idempotencyKey: urlKey, deadline }));
      }
      const subs = await Promise.all(calls);
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: {} });
      const perFile = files.map((f) => stage.bot.stats.downloadsByFileId.get(f.fileId) ?? 0);
      result.notes.downloadsPerFile = perFile;
      result.notes.urlDownloads = origin.hits.get('same.png') ?? 0;
      result.checks.push({ name: 'one download per Telegram file', ok: perFile.every((d) => d === 1), detail: perFile.join(', ') });
      result.checks.push({ name: 'one download of the URL', ok: origin.hits.get('same.png') === 1, detail: String(origin.hits.get('same.png') ?? 0) });
      result.summary = `downloads per file: ${perFile.join(', ')} (URL: ${origin.hits.get('same.png') ?? 0}); ${result.notes.assets} assets for ${subs.length} requests`;
      return result;
    } finally {
      await stage.close();
      await origin.close();
    }
  },
};
