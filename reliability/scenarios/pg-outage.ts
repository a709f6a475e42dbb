/**
 * (3) PostgreSQL unreachable: a TCP proxy in front of it (the apps' DATABASE_URL points at the
 * proxy) resets every connection and refuses new ones for a while, with jobs in flight and
 * clients still submitting; then lets them through again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startTcpProxy } from '../tcp-proxy.js';
import { addFiles, downloadsStarted } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { mapLimit, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

export const pgOutage: Scenario = {
  name: 'postgres-outage',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 8 : 24;
    const outageMs = run.smoke ? 3_000 : 10_000;
    // Full runs first black-hole the connections (a partition: nothing answers, nothing is reset).
    const pauseMs = run.smoke ? 0 : 5_000;
    const fault =
      (pauseMs ? `PostgreSQL silent (packets held) for ${pauseMs / 1000} s, then ` : 'PostgreSQL ') +
      `unreachable (connections reset, new ones refused) for ${outageMs / 1000} s`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '3' });
    const db = new URL(stage.env.DATABASE_URL!);
    const proxy = await startTcpProxy({ host: db.hostname, port: Number(db.port || 5432) });
    try {
      db.hostname = proxy.host;
      db.port = String(proxy.port);
      stage.env.DATABASE_URL = db.toString();
      const api = await stage.startApi({ child: true });
      await Promise.all([stage.startWorker(), stage.startWorker()]);
      const client = stage.client(api.baseUrl);
      const files = addFiles(stage.bot, 'pg', n, { size: 300_000, bytesPerSecond: 500_000 });
      const deadline = Date.now() + pauseMs + outageMs + (run.smoke ? 60_000 : 120_000);

      const first = mapLimit(files.slice(0, n / 2), 4, (f) => submitTelegram(client, f, { deadline }));
      await downloadsStarted(2);
      if (pauseMs) {
        proxy.pause();
        await sleep(pauseMs); // the fault's duration
      }
      proxy.drop();
      // Clients keep submitting into the outage (they retry with the same idempotency key).
      const second = mapLimit(files.slice(n / 2), 4, (f) => submitTelegram(client, f, { deadline }));
      await sleep(outageMs); // the fault's duration, not a wait for a result
      const refused = proxy.stats.refused;
      proxy.resume();
      const subs = [...(await first), ...(await second)];
      const result = await tally(stage, subs, {
        name: this.name,
        fault,
        started,
        deadline,
        checks: [{ name: 'connections were refused during the outage', ok: refused > 0, detail: `${refused} refused, ${proxy.stats.dropped} reset` }],
        notes: { pauseMs, outageMs },
      });
      result.notes.proxy = { ...proxy.stats };
      result.summary = `${proxy.stats.dropped} connections reset, ${proxy.stats.refused} refused`;
      return result;
    } finally {
      await stage.close();
      await proxy.close();
    }
  },
};
