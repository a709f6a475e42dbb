/**
 * (8) A burst far beyond worker capacity: many clients submit at once to an API with a small
 * MAX_QUEUE_DEPTH and one slow worker. Everything accepted must be stored; past the depth the
 * API answers 429 with Retry-After; /healthz stays responsive throughout (its p99 is measured
 * by a client polling it during the burst).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { JobQueues } from '../../packages/jobs/src/index.js';
import { addFiles, type SourceFile } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { type Submission, submission, TERMINAL, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

export const burst: Scenario = {
  name: 'burst-backpressure',
  async run(run) {
    const started = Date.now();
    const burstMs = run.smoke ? 3_000 : 15_000;
    const depth = run.smoke ? 20 : 50;
    const fault = `32 clients submitting as fast as answered for ${burstMs / 1000} s; MAX_QUEUE_DEPTH ${depth}; one worker with concurrency 2`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '2', MAX_QUEUE_DEPTH: String(depth) });
    const queues = new JobQueues(stage.services.redis.redis, stage.services.redis.prefix);
    try {
      const api = await stage.startApi({ child: true });
      await stage.startWorker();
      const deadline = Date.now() + (run.smoke ? 60_000 : 150_000);
      const retryAfter: (string | null)[] = [];
      const otherStatuses: number[] = [];

      let bursting = true;
      const health: number[] = [];
      let healthFailures = 0;
      const poller = (async () => {
        while (bursting) {
          const t = performance.now();
          const ok = await fetch(`${api.baseUrl}/healthz`).then((r) => r.ok, () => false);
          health.push(performance.now() - t);
          if (!ok) healthFailures++;
          await sleep(10);
        }
      })();
      let maxWaiting = 0;
      const depthWatch = (async () => {
        while (bursting) {
          maxWaiting = Math.max(maxWaiting, await queues.waitingCount(['rehost']));
          await sleep(50);
        }
      })();

      const attempt = async (f: SourceFile): Promise<Submission> => {
        const key = crypto.randomUUID();
        const sub = submission(f, `key:${key}`);
        // One try, plus retries of network errors and 5xx (same key); a 429 is an answer.
        for (;;) {
          let res: Response;
          try {
            res = await fetch(`${api.baseUrl}/v1/rehost`, {
              method: 'POST',
              headers: { authorization: `Bearer ${stage.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ source: { type: 'telegram', fileId: f.fileId }, idempotencyKey: key }),
            });
          } catch (err) {
            sub.error = String(err);
            if (Date.now() > deadline) return sub;
            continue;
          }
          const body = (await res.json()) as { assetId?: string; status?: string };
          if (res.status === 202 || res.status === 200) {
            sub.assetIds.add(body.assetId!);
            if (res.status === 200 && TERMINAL.has(body.status ?? '')) sub.answeredTerminal.add(body.assetId!);
            sub.accepted = true;
            return sub;
          }
          if (res.status === 429) {
            retryAfter.push(res.headers.get('retry-after'));
            sub.refused = true;
            return sub;
          }
          otherStatuses.push(res.status);
          sub.error = `HTTP ${res.status}`;
          if (res.status < 500 || Date.now() > deadline) return sub;
        }
      };
      const burstEnd = Date.now() + burstMs;
      const subs: Submission[] = [];
      let next = 0;
      const submitOne = async (): Promise<Submission> => {
        const [f] = addFiles(stage.bot, `b${next++}`, 1, { side: 24 });
        const sub = await attempt(f!);
        subs.push(sub);
        return sub;
      };
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (Date.now() < burstEnd) await submitOne();
        }),
      );
      bursting = false;
      await Promise.all([poller, depthWatch]);

      const p99 = percentile(health, 99);
      const badRetryAfter = retryAfter.filter((v) => !v || !/^\d+$/.test(v) || Number(v) < 1);
      const result = await tally(stage, subs, {
        name: this.name,
        fault,
        started,
        deadline,
        checks: [
          { name: 'the depth limit was reached (some 429s)', ok: retryAfter.length > 0, detail: `${retryAfter.length} refused` },
          { name: 'every 429 carries a Retry-After', ok: badRetryAfter.length === 0, detail: `${badRetryAfter.length} without` },
          { name: '/healthz p99 under 1 s during the burst', ok: p99 < 1000 && health.length > 0, detail: `${p99.toFixed(1)} ms over ${health.length} probes` },
          { name: '/healthz always answered', ok: healthFailures === 0, detail: `${healthFailures} failures` },
          { name: 'no other error statuses', ok: otherStatuses.length === 0, detail: otherStatuses.join(', ') },
          // One API process: its admissions are counted until Redis shows them (see apps/api/src/queue-depth.ts);
          // a request slower than two sample windows between admission and enqueue can still slip past, hence the margin.
          { name: 'waiting jobs stayed at MAX_QUEUE_DEPTH (+10%)', ok: maxWaiting <= Math.ceil(depth * 1.1), detail: `peak ${maxWaiting} seen, limit ${depth}` },
        ],
        notes: {
          healthz: { probes: health.length, p50Ms: +percentile(health, 50).toFixed(1), p99Ms: +p99.toFixed(1), maxMs: +Math.max(...health).toFixed(1) },
          maxWaitingSeen: maxWaiting,
          depthLimit: depth,
          retryAfterValues: [...new Set(retryAfter)],
        },
      });
      const accepted = subs.filter((x) => x.accepted).length;
      result.summary = `${accepted} accepted, all stored; /healthz p99 ${p99.toFixed(0)} ms over ${health.length} probes; waiting peak ${maxWaiting}/${depth}`;
      return result;
    } finally {
      await queues.close();
      await stage.close();
    }
  },
};
