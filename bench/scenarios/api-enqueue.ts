/**
 * api_enqueue: POST /v1/rehost on our API (a separate process, no worker running): the highest
 * rate autocannon gets from it, then p50/p99 at half that rate; beside a bare loop, in one
 * process, of what accepting a request inherently takes: one prepared `INSERT` of the asset row
 * (plain `pg`) and an awaited `queue.add`. Each request names a distinct Telegram file, so dedupe never
 * answers in its place: every request inserts an asset and enqueues a job.
 *
 * The half-rate latencies come from an evenly paced open-loop client, not from autocannon: its
 * rate limit lets each connection send its whole per-second budget back to back and then wait
 * for the next second, so "half the rate" is full rate half of the time. The p99 is that of the
 * median of three windows. The same client times a bare HTTP server (bench/baselines/bare-api.ts:
 * body parse, the INSERT, queue.add) in windows alternating with ours: on a disk whose WAL flush
 * sometimes takes 20–150 ms, both tails are the disk's, and the bare figure shows it.
 */
import http from 'node:http';
import autocannon, { type Result } from 'autocannon';
import { Queue } from '../deps/bullmq.js';
import { pg } from '../deps/pg.js';
import {
  type BenchContext,
  benchServices,
  type CpuShare,
  describeCpu,
  freePort,
  medianBy,
  paced,
  percentile,
  resources,
  round,
  type ScenarioResult,
  startApi,
  startBaseline,
  startPhase,
  target,
} from '../lib.js';

export async function apiEnqueue(ctx: BenchContext): Promise<ScenarioResult> {
  const seconds = ctx.smoke ? 1 : 10;
  const res = resources();
  try {
    const port = await freePort();
    const services = res.add(
      await benchServices({
        API_PORT: String(port),
        API_HOST: '127.0.0.1',
        // A bot must be configured for telegram sources to be accepted; it is never called.
        TELEGRAM_BOT_TOKEN: '123456789:AAbenchbenchbenchbenchbenchbenchbench',
      }),
      (s) => s.cleanup(),
    );
    const { redis, prefix } = services.redis;

    // Baseline first, with nothing else running, one request's worth at a time: the asset row
    // every accepted request must write (one prepared INSERT through plain `pg`), then an awaited
    // queue.add.
    const bare = res.add(new Queue('bare-add', { connection: redis, prefix }), (q) => q.close());
    const dbUrl = new URL(services.env.DATABASE_URL!);
    const schema = dbUrl.searchParams.get('schema')!;
    dbUrl.searchParams.delete('schema');
    const pool = res.add(new pg.Pool({ connectionString: dbUrl.toString(), max: 2, options: `-c search_path=${schema}` }), (p) => p.end());
    const insert = {
      name: 'bare-insert-asset',
      text:
        `INSERT INTO "Asset" (id, status, "sourceType", "telegramFileId", "telegramFileUniqueId", "telegramBot", "dedupeKey", "updatedAt") ` +
        `VALUES ($1, 'queued', 'telegram', $2, $3, 'default', $4, now())`,
    };
    const addFor = async (ms: number) => {
      let n = 0;
      const phase = startPhase();
      const until = performance.now() + ms;
      while (performance.now() < until) {
        const assetId = crypto.randomUUID();
        const fileUniqueId = `bare-u-${assetId}`;
        await pool.query({ ...insert, values: [assetId, `bare-${assetId}`, fileUniqueId, `tg:${fileUniqueId}`] });
        await bare.add('rehost', { assetId, source: { type: 'telegram', fileId: `bare-${assetId}`, bot: 'default' } });
        n++;
      }
      const { ms: took, cpu } = phase.end();
      return { perS: (n * 1000) / took, cpu };
    };
    await addFor(ctx.smoke ? 200 : 1000);
    const baseline = await addFor(seconds * 1000);
    ctx.log(`bare INSERT + queue.add: ${round(baseline.perS)}/s`);

    await startApi(ctx, services.env);
    let n = 0;
    const post = (opts: { seconds: number; connections: number; overallRate?: number; at?: { port: number; path: string } }): Promise<Result> =>
      autocannon({
        url: `http://127.0.0.1:${opts.at?.port ?? port}`,
        duration: opts.seconds,
        connections: opts.connections,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
        requests: [
          {
            method: 'POST',
            path: opts.at?.path ?? '/v1/rehost',
            headers: { authorization: `Bearer ${services.env.API_TOKENS!.split(',')[0]}`, 'content-type': 'application/json' },
            setupRequest: (req) => {
              n++;
              return { ...req, body: JSON.stringify({ source: { type: 'telegram', fileId: `api-${n}`, fileUniqueId: `api-u-${n}`, bot: 'default' } }) };
            },
          },
        ],
      });
    const run = async (label: string, opts: Parameters<typeof post>[0]) => {
      const phase = startPhase();
      const result = await post(opts);
      const { cpu } = phase.end();
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`${label}: ${result.non2xx} non-2xx answers, ${result.errors} errors (${JSON.stringify(result.statusCodeStats)})`);
      }
      const accepted = result.statusCodeStats['202']?.count ?? 0;
      return { perS: accepted / result.duration, p50: result.latency.p50, p99: result.latency.p99, cpu };
    };

    await run('warm-up', { seconds: ctx.smoke ? 1 : 3, connections: 16 });
    const max = await run('max', { seconds, connections: 16 });
    ctx.log(`POST /v1/rehost: ${round(max.perS)}/s at most (autocannon, 16 connections)`);

    // Half load, evenly paced: one request every 1/rate s on kept-alive connections, each timed
    // from being sent to its answer's last byte. One second unrecorded first (connections opened,
    // the client's own code warm, as autocannon's warm-up does for the maximum), then three
    // windows of `seconds`: a one-off stall of this shared machine lands in one of them, and the
    // median window's p99 is the figure (all three are kept in the results). Each of our windows
    // is followed by one of the bare server (bench/baselines/bare-api.ts) at the same rate, so
    // the two tails are measured on the same machine minutes, disk included.
    const rate = Math.max(1, max.perS / 2);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const pacedWindow = async (target: { port: number; path: string }, s: number) => {
      const latencies: number[] = [];
      const failures: string[] = [];
      const inFlight: Promise<void>[] = [];
      const phase = startPhase();
      await paced(rate, Math.round(rate * s), () => {
        const body = JSON.stringify({ source: { type: 'telegram', fileId: `api-${++n}`, fileUniqueId: `api-u-${n}`, bot: 'default' } });
        const t0 = performance.now();
        inFlight.push(
          new Promise<void>((resolve) => {
            const req = http.request(`http://127.0.0.1:${target.port}${target.path}`, {
              method: 'POST',
              agent,
              headers: { authorization: `Bearer ${services.env.API_TOKENS!.split(',')[0]}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            });
            req.on('response', (res) => {
              res.resume();
              res.on('end', () => {
                latencies.push(performance.now() - t0);
                if (res.statusCode !== 202) failures.push(`HTTP ${res.statusCode}`);
                resolve();
              });
            });
            req.on('error', (err) => {
              failures.push(err.message);
              resolve();
            });
            req.end(body);
          }),
        );
      });
      await Promise.all(inFlight);
      const { cpu } = phase.end();
      if (failures.length > 0) throw new Error(`half load: ${failures.length} failed requests, e.g. ${failures[0]}`);
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu };
    };
    const barePort = await freePort();
    await startBaseline(ctx, 'bare-api.ts', { ...services.env, BARE_API_PORT: String(barePort) });
    const oursAt = { port, path: '/v1/rehost' };
    const bareAt = { port: barePort, path: '/' };
    // The bare server's own maximum, taken like ours and right after it: how much room each has
    // at the paced rate, which decides how fast a backlog left by a stall (a WAL flush) is worked off.
    await run('bare server warm-up', { seconds: ctx.smoke ? 1 : 3, connections: 16, at: bareAt });
    const bareMax = await run('bare server max', { seconds, connections: 16, at: bareAt });
    ctx.log(`bare server: ${round(bareMax.perS)}/s at most (autocannon, 16 connections)`);
    await pacedWindow(oursAt, 1);
    await pacedWindow(bareAt, 1);
    const windows = [];
    const bareWindows = [];
    for (let i = 0; i < (ctx.smoke ? 1 : 3); i++) {
      windows.push(await pacedWindow(oursAt, seconds));
      bareWindows.push(await pacedWindow(bareAt, seconds));
    }
    agent.destroy();
    const half = medianBy(windows, (w) => w.p99);
    const bareHalf = medianBy(bareWindows, (w) => w.p99);
    const each = (ws: { p99: number }[]) => ws.map((w) => round(w.p99, 1)).join(', ');
    ctx.log(`at ${round(rate)}/s: p50 ${round(half.p50, 2)} ms, p99 ${round(half.p99, 2)} ms (median window; p99 of each: ${each(windows)} ms)`);
    ctx.log(`bare server at ${round(rate)}/s: p50 ${round(bareHalf.p50, 2)} ms, p99 ${round(bareHalf.p99, 2)} ms (p99 of each: ${each(bareWindows)} ms)`);

    const ratio = max.perS / baseline.perS;
    return {
      req_per_s: round(max.perS),
      p50_ms: round(half.p50, 2),
      p99_ms: round(half.p99, 2),
      half_rate_per_s: round(rate),
      latency_at_max_p50_ms: round(max.p50, 2),
      latency_at_max_p99_ms: round(max.p99, 2),
      baseline_queue_add_per_s: round(baseline.perS),
      connections: 16,
      p99_ms_windows: windows.map((w) => round(w.p99, 2)),
      baseline_server_req_per_s: round(bareMax.perS),
      baseline_p50_ms: round(bareHalf.p50, 2),
      baseline_p99_ms: round(bareHalf.p99, 2),
      baseline_p99_ms_windows: bareWindows.map((w) => round(w.p99, 2)),
      cpu: { ours_max: max.cpu, ours_half: half.cpu, baseline: baseline.cpu } satisfies Record<string, CpuShare>,
      targets: {
        throughput: target('req_per_s >= 0.3 x baseline_queue_add_per_s', ratio, ratio >= 0.3),
        p99: target('p99_ms <= 25 at half load (median of 3 windows)', half.p99, half.p99 <= 25),
      },
      limited_by:
        `at max: ${describeCpu(max.cpu)}; bare add loop: ${describeCpu(baseline.cpu)}; ` +
        `at half load the bare server's p99 is ${round(bareHalf.p99, 1)} ms (every request of both waits for its commit's WAL flush)`,
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
