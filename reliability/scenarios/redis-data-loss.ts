/**
 * (10) Redis loses its data: restarted without persistence (or failed over to an empty replica)
 * while jobs wait. Every key of this scenario's prefix is deleted — queues, job data, schedulers,
 * the event stream — and the apps' connections are cut, as a restart cuts them. The asset rows
 * in PostgreSQL are the record of what was accepted: the maintenance sweeper must find the assets
 * whose job vanished and enqueue them again.
 */
import { addFiles, downloadsStarted } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { tally } from '../lib/tally.js';
import { killClients } from './redis-kill.js';
import type { Scenario } from './types.js';

export const redisDataLoss: Scenario = {
  name: 'redis-data-loss',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 6 : 20;
    const fault = `all of the queue's Redis keys deleted and connections cut while ${n - 1} jobs wait (sweeper every 1 s, stuck after 3 s)`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '1', MAINTENANCE_INTERVAL_MS: '1000', STUCK_AFTER_SECONDS: '3' });
    try {
      const api = await stage.startApi();
      const worker = await stage.startWorker();
      const client = stage.client(api.baseUrl);
      const files = addFiles(stage.bot, 'dl', n, { size: 100_000, bytesPerSecond: 200_000, slowFirstOnly: true });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      const first = downloadsStarted(1);
      const subs = await Promise.all(files.map((f) => submitTelegram(client, f, { deadline })));
      await first; // one job runs, the rest wait in Redis

      const { redis, prefix } = stage.services.redis;
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await redis.del(...keys);
      } while (cursor !== '0');
      const pid = String(worker.child.pid);
      const killed = await killClients(redis, (name) => name.startsWith(`${prefix}:`) || name.endsWith(`-${pid}`) || name.endsWith(`-${process.pid}`));

      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: { keysDeleted: deleted, connectionsKilled: killed } });
      const requeued = worker.lines.filter((l) => l.msg === 'stuck asset enqueued again').length;
      result.checks.push({ name: 'Redis data was lost (keys deleted)', ok: deleted > 0, detail: `${deleted} keys` });
      result.checks.push({ name: 'the sweeper enqueued the lost jobs again', ok: requeued > 0, detail: `${requeued} re-enqueued` });
      result.summary = `${deleted} keys deleted, ${killed} connections cut; ${requeued} assets re-enqueued by the sweeper`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
