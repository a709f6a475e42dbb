/**
 * (1) kill -9 of a worker while it streams multipart uploads, with a second worker running.
 * Files over one part (5 MiB) are served slowly, so the first worker has uploads open when it
 * dies; the second retakes the stalled jobs once their locks expire.
 */
import { addFiles } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { type Check, tally } from '../lib/tally.js';
import { until } from '../lib/wait.js';
import type { Scenario } from './types.js';

export const workerKill: Scenario = {
  name: 'worker-kill-9',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 3 : 8;
    const fault = `SIGKILL one of two workers while ${n} files of 7 MiB stream into multipart uploads`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '4', S3_PART_SIZE_BYTES: String(5 * 1024 * 1024) });
    try {
      const api = await stage.startApi();
      const client = stage.client(api.baseUrl);
      // ~3 s until the first 5 MiB part is read and its multipart upload opens, ~1.5 s more to the end.
      const files = addFiles(stage.bot, 'wk', n, { size: 7 * 1024 * 1024, bytesPerSecond: 1.6 * 1024 * 1024, slowFirstOnly: true });
      const victim = await stage.startWorker();
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      // The victim alone takes the first jobs; the survivor starts meanwhile and takes the rest.
      // Two owners, so the tally's usage recount has something to check.
      const submitted = Promise.all(files.map((f, i) => submitTelegram(client, f, { deadline, ownerId: `wk-owner-${i % 2}` })));
      const survivor = await stage.startWorker();
      const store = stage.services.bucket.store;
      const open = await until(() => store.listMultipartUploads('i/'), (u) => u.length >= Math.min(n, 2), 30_000, 50);
      victim.kill('SIGKILL');
      await victim.exited;
      const stillOpen = (await store.listMultipartUploads('i/')).filter((u) => open.some((o) => o.uploadId === u.uploadId)).length;
      const subs = await submitted;
      const checks: Check[] = [{ name: 'the victim had multipart uploads open when killed', ok: stillOpen > 0, detail: `${stillOpen} of ${open.length} still open after the kill` }];

      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, checks, notes: { openAtKill: stillOpen, openBefore: open.length } });
      result.checks.push({ name: 'the survivor is still running', ok: survivor.child.exitCode === null });
      result.summary = `${stillOpen} multipart uploads open at the kill; ${result.notes.danglingMultipartUploads} left afterwards`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
