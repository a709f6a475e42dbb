/**
 * (2) Redis connections cut with CLIENT KILL while jobs are active: every connection of this
 * scenario's apps (named `rehost-<app>-<host>-<pid>` by the apps, and BullMQ's blocking
 * connections, named after this scenario's queue prefix), several times, each time while
 * downloads are in flight. Nothing else on the Redis server is touched.
 */
import type { Redis } from '../../packages/jobs/src/index.js';
import { addFiles, downloadsStarted } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { type Check, mapLimit, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

/** Our connections currently open (a round must not fire while the apps are still reconnecting). */
async function ourConnections(redis: Redis, ours: (name: string) => boolean): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => ours(/ name=(\S*)/.exec(line)?.[1] ?? '')).length;
}

/** Waits (bounded) until the apps have reconnected: ioredis reconnects with a back-off after a kill. */
async function reconnected(redis: Redis, ours: (name: string) => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await ourConnections(redis, ours)) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

/** Kills the connections whose name marks them as ours; returns how many. */
export async function killClients(redis: Redis, ours: (name: string) => boolean): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  const ids = list
    .split('\n')
    .map((line) => ({ id: / id=(\d+)/.exec(` ${line}`)?.[1], name: / name=(\S*)/.exec(line)?.[1] ?? '' }))
    .filter((c) => c.id && ours(c.name));
  for (const c of ids) await redis.client('KILL', 'ID', c.id!).catch(() => undefined);
  return ids.length;
}

export const redisKill: Scenario = {
  name: 'redis-client-kill',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? 8 : 24;
    const rounds = run.smoke ? 2 : 5;
    const fault = `CLIENT KILL of every API and worker connection, ${rounds} times while jobs are active`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '3' });
    try {
      const api = await stage.startApi({ child: true });
      const workers = await Promise.all([stage.startWorker(), stage.startWorker()]);
      const pids = [api.proc!, ...workers].map((p) => String(p.child.pid));
      const prefix = stage.services.redis.prefix;
      const ours = (name: string) => name.startsWith(`${prefix}:`) || (name.startsWith('rehost-') && pids.some((pid) => name.endsWith(`-${pid}`)));
      const client = stage.client(api.baseUrl);
      const files = addFiles(stage.bot, 'rk', n, { size: 400_000, bytesPerSecond: 600_000 });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);

      // Half now, half between the kills: requests also meet cut connections.
      const first = mapLimit(files.slice(0, n / 2), 4, (f) => submitTelegram(client, f, { deadline }));
      const killed: number[] = [];
      let second: Promise<Awaited<typeof first>> | undefined;
      for (let r = 0; r < rounds; r++) {
        // Each round once more downloads have begun since the last one (the apps reconnected and took jobs).
        await downloadsStarted(r === 0 ? 1 : 2);
        await reconnected(stage.services.redis.redis, ours);
        killed.push(await killClients(stage.services.redis.redis, ours));
        if (r === 0) second = mapLimit(files.slice(n / 2), 4, (f) => submitTelegram(client, f, { deadline }));
      }
      const subs = [...(await first), ...(await second!)];
      const checks: Check[] = [{ name: 'connections were killed in every round', ok: killed.every((k) => k > 0), detail: killed.join(', ') }];
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, checks, notes: { killedPerRound: killed } });
      result.summary = `connections killed per round: ${killed.join(', ')}`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
