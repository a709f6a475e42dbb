/**
 * (4) The S3 server failing a share of requests: an HTTP proxy in front of it answers 500/503
 * or resets the connection (before forwarding, or halfway through the answer). The apps and the
 * uploading clients reach S3 only through it (path style; the Host header is forwarded as
 * signed); the permanent URLs are read from the server directly.
 */

import { addFiles } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram, submitUpload } from '../lib/submit.js';
import { mapLimit, tally } from '../lib/tally.js';
import { startS3FaultProxy } from '../s3-fault-proxy.js';
import type { Scenario } from './types.js';

export const s3Faults: Scenario = {
  name: 's3-errors-and-resets',
  async run(run) {
    const started = Date.now();
    const faults = { errorRate: 0.15, resetRate: 0.1 };
    const nSmall = run.smoke ? 8 : 24;
    const nLarge = run.smoke ? 1 : 4;
    const nUploads = run.smoke ? 4 : 12;
    const fault = `S3 answers 500/503 to ${faults.errorRate * 100}% of requests and resets ${faults.resetRate * 100}% (before or mid-answer)`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '4', S3_PART_SIZE_BYTES: String(5 * 1024 * 1024) });
    const direct = new URL(stage.env.S3_ENDPOINT!);
    const proxy = await startS3FaultProxy({ host: direct.hostname, port: Number(direct.port || 80) });
    try {
      // PUBLIC_BASE_URL keeps pointing at the server itself: what we check is what is stored.
      stage.env.S3_ENDPOINT = proxy.url;
      stage.env.S3_FORCE_PATH_STYLE = 'true';
      const api = await stage.startApi();
      await Promise.all([stage.startWorker(), stage.startWorker()]);
      proxy.setFaults(faults);
      const client = stage.client(api.baseUrl);
      const small = addFiles(stage.bot, 's3s', nSmall, { size: 200_000 });
      const large = addFiles(stage.bot, 's3l', nLarge, { size: 6 * 1024 * 1024 });
      const uploads = addFiles(stage.bot, 's3u', nUploads, { size: 150_000 }); // bytes only: uploaded by clients
      const deadline = Date.now() + (run.smoke ? 60_000 : 150_000);
      const [rehosted, uploaded] = await Promise.all([
        // Three owners (rehosts and uploads), so the tally's usage recount has something to check.
        mapLimit([...large, ...small], 6, (f, i) => submitTelegram(client, f, { deadline, ownerId: `s3-owner-${i % 3}` })),
        mapLimit(uploads, 3, (f, i) => submitUpload(client, f, deadline, `s3-owner-${i % 3}`)),
      ]);
      const subs = [...rehosted, ...uploaded];
      const result = await tally(stage, subs, {
        name: this.name,
        fault,
        started,
        deadline,
        notes: {},
      });
      result.notes.proxy = { ...proxy.stats };
      result.checks.push({ name: 'faults were injected', ok: proxy.stats.errors > 0 && proxy.stats.resetsBefore + proxy.stats.resetsMidBody > 0 });
      const st = proxy.stats;
      result.summary = `${st.requests} S3 requests: ${st.errors} answered 5xx, ${st.resetsBefore + st.resetsMidBody} reset; ${nLarge} multipart, ${nUploads} browser uploads`;
      return result;
    } finally {
      proxy.setFaults({ errorRate: 0, resetRate: 0 });
      await stage.close();
      await proxy.close();
    }
  },
};
