/**
 * (9) A worker frozen past its job locks (SIGSTOP — a long GC pause, a VM stall, a laptop lid),
 * then thawed (SIGCONT). A second worker retakes the stalled jobs and finishes them; then the
 * frozen one wakes up and finishes the same jobs a second time. The sources are `url`s whose
 * origin answers different (valid) bytes on every request, so the two runs of a job store
 * different bytes: the ready URL must still serve exactly the sha256/size the asset reports
 * (the late run may not overwrite what the first one published), and one object per asset stays.
 */
import { downloadsStarted, startOrigin } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitUrl } from '../lib/submit.js';
import { type Check, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

export const workerFreeze: Scenario = {
  name: 'worker-freeze',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 3 : 6;
    const fault = `SIGSTOP a worker mid-download for longer than its job locks, a second worker retakes the ${n} jobs, then SIGCONT; url sources whose bytes change on every request`;
    const stage = await openStage(this.name, run, {
      WORKER_CONCURRENCY: String(n),
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
    });
    const origin = await startOrigin();
    try {
      const api = await stage.startApi();
      const client = stage.client(api.baseUrl);
      // The frozen worker's downloads are slow (they are still running when it wakes); the retakes are not.
      const files = Array.from({ length: n }, (_, i) => origin.addChanging(`fz-${i}.png`, { size: 300_000, bytesPerSecond: 100_000, slowFirstOnly: true }));
      const frozen = await stage.startWorker();
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      const began = downloadsStarted(n);
      const subs = await Promise.all(
        files.map(async (f) => {
          const sub = await submitUrl(client, f.url, { sha256: '' }, { idempotencyKey: crypto.randomUUID(), deadline });
          sub.sha256s = f.sha256s;
          return sub;
        }),
      );
      await began;
      frozen.kill('SIGSTOP');
      await stage.startWorker();
      // Everything the second worker does is announced: wait for all of it while the first is frozen.
      const { pending } = await stage.tracker.waitAll(subs.flatMap((s) => [...s.assetIds]), deadline);
      const retakenWhileFrozen = n - pending.length;
      frozen.kill('SIGCONT');
      // The thawed worker finishes its stale runs (a graceful stop waits for them); each announces once more.
      await frozen.stop(15_000);
      const ids = subs.flatMap((s) => [...s.assetIds]);
      const twice = () => ids.filter((id) => stage.tracker.all.filter((e) => e.assetId === id).length >= 2).length;
      await stage.tracker.waitUntil(() => twice() === ids.length, Date.now() + 5_000);
      const downloadsPerUrl = files.map((f) => f.sha256s.size);
      const checks: Check[] = [
        { name: 'the second worker finished every job while the first was frozen', ok: retakenWhileFrozen === n, detail: `${retakenWhileFrozen} of ${n}` },
        { name: 'the thawed worker ran every job to the end (a second announcement each)', ok: twice() === ids.length, detail: `${twice()} of ${ids.length}` },
        // Otherwise the scenario proves nothing about a late run storing other bytes.
        { name: 'each source was downloaded twice, with different bytes', ok: downloadsPerUrl.every((d) => d >= 2), detail: downloadsPerUrl.join(', ') },
      ];
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, checks, notes: { distinctBodiesPerUrl: downloadsPerUrl } });
      // A late run may announce again, but never a status the asset does not have (an `analyzed`
      // event follows `ready`: the facts of a ready asset, no status of its own).
      const finals = new Map((await stage.services.db.query<{ id: string; status: string }>(`SELECT id, status FROM "${stage.services.db.schema}"."Asset"`)).rows.map((r) => [r.id, r.status]));
      const contradicting = stage.tracker.all.filter((e) => finals.get(e.assetId) !== (e.status === 'analyzed' ? 'ready' : e.status));
      result.checks.push({ name: 'no event contradicts the final state', ok: contradicting.length === 0, detail: contradicting.map((e) => `${e.assetId}: ${e.status}`).slice(0, 3).join('; ') });
      result.notes.events = stage.tracker.all.length;
      result.summary = `${stage.tracker.all.length} events for ${n} assets (each announced by both runs); ${downloadsPerUrl.reduce((a, b) => a + b, 0)} distinct bodies downloaded`;
      return result;
    } finally {
      await stage.close();
      await origin.close();
    }
  },
};
