/**
 * `node --import tsx bench/startup.ts [runs]` (through scripts/with-services.sh, or with the
 * services up): start time and idle RSS of the worker, the API and the bare pipe, run through tsx
 * (the sources, as the images did before) and compiled (dist/, as they do now), alternating, the
 * median of `runs` (default 5) fresh processes each. Start time: spawn → the ready line (the
 * worker's `worker started`, Fastify's `Server listening`, the baseline's `{"ready":true}`).
 * Idle RSS: VmRSS 2 s after that. Prints a Markdown table (docs/BENCHMARKS.md quotes it).
 * Build first: `pnpm build` and the baselines as bench/run.ts builds them (or run `pnpm bench
 * --smoke` once).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { benchServices, type Child, median, resources, round, rssMb, startApi, startBaseline, startWorker, freePort } from './lib.js';

const runs = Number(process.argv[2] ?? 5);
const ctx = { smoke: false, profileDir: undefined, log: (m: string) => process.stderr.write(`${m}\n`) };
const res = resources();
try {
  const services = res.add(await benchServices({ TELEGRAM_BOT_TOKEN: '123456789:AAbenchbenchbenchbenchbenchbenchbench' }), (s) => s.cleanup());
  const port = await freePort();
  const starters: Record<string, (runtime: 'tsx' | 'compiled') => Promise<Child>> = {
    worker: (rt) => startWorker(ctx, services.env, rt),
    api: (rt) => startApi(ctx, { ...services.env, API_PORT: String(port), API_HOST: '127.0.0.1' }, rt),
    'bare pipe': (rt) => startBaseline(ctx, 'bare-pipe.ts', services.env, rt),
  };
  const seen: Record<string, { ms: number[]; rss: number[] }> = {};
  for (let i = 0; i < runs; i++) {
    for (const [app, start] of Object.entries(starters)) {
      for (const rt of ['tsx', 'compiled'] as const) {
        const t0 = performance.now();
        const child = await start(rt);
        const ms = performance.now() - t0;
        await sleep(2000);
        const rss = rssMb(child.pid);
        await child.stop();
        const k = `${app}|${rt}`;
        seen[k] ??= { ms: [], rss: [] };
        seen[k].ms.push(ms);
        seen[k].rss.push(rss);
        ctx.log(`${app} ${rt}: ready after ${round(ms)} ms, idle RSS ${rss} MB`);
      }
    }
  }
  const lines = ['| process | start, tsx → compiled (ms) | idle RSS, tsx → compiled (MB) |', '|---|---|---|'];
  for (const app of Object.keys(starters)) {
    const a = seen[`${app}|tsx`]!;
    const b = seen[`${app}|compiled`]!;
    lines.push(`| ${app} | ${round(median(a.ms), 0)} → ${round(median(b.ms), 0)} | ${median(a.rss)} → ${median(b.rss)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n(median of ${runs} fresh processes each, alternating)\n`);
} finally {
  await res.close();
}
