/**
 * What every scenario shares: the real services (an isolated schema, Redis prefix and bucket per
 * scenario), the apps and the bare baselines as child processes, CPU and memory read from /proc,
 * generated images, and the small statistics the results need.
 *
 * Units: MB is 10^6 bytes everywhere (sizes, throughput and RSS); times are milliseconds.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AssetsRepo, createSql } from '../packages/db/src/index.js';
import { type AssetEvent, JobQueues, subscribeAssetEvents, type Redis } from '../packages/jobs/src/index.js';
import type { ObjectStore } from '../packages/storage/src/index.js';
import { createTestServices, streamNoisePng, type TestServices } from '../packages/testing/src/index.js';
import { boundS3Client } from './store-check.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MB = 1_000_000;

export interface BenchContext {
  /** Tiny sizes and counts: checks that every scenario runs and reports, measures nothing. */
  smoke: boolean;
  /** Where child processes write `--cpu-prof` profiles, when profiling. */
  profileDir: string | undefined;
  log: (msg: string) => void;
}

// ---------------------------------------------------------------- results

export interface TargetResult {
  /** The rule, as written in the issue (e.g. `ratio >= 0.9`). */
  target: string;
  /** The measured value the rule was judged on. */
  value: number;
  pass: boolean;
}

/** CPU use during a measured phase, in % of the whole machine (all cores = 100). */
export interface CpuShare {
  busy_pct: number;
  by: Record<string, number>;
  /** The busiest process we started, in % of one core (a Node.js process runs JS on one). */
  busiest?: { name: string; core_pct: number };
}

export type ScenarioResult = Record<string, unknown> & {
  targets: Record<string, TargetResult>;
  /** One line: what bounded the figures, read from the CPU shares measured during the run. */
  limited_by: string;
  measured_at: string;
};

export const target = (rule: string, value: number, pass: boolean): TargetResult => ({ target: rule, value: round(value, 3), pass });

// ---------------------------------------------------------------- machine

export function machineInfo() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return {
    nproc: os.availableParallelism(),
    cpu_model: cpu,
    mem_total_mb: Math.round(os.totalmem() / MB),
    node: process.version,
    kernel: os.release(),
  };
}

// ---------------------------------------------------------------- statistics

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: number[]): number => percentile(values, 50);

/** The item whose `key` is the median (the lower middle for an even count, as `median`): a whole run or window, not just its figure. */
export function medianBy<T>(items: T[], key: (item: T) => number): T {
  if (items.length === 0) throw new Error('medianBy of nothing');
  return [...items].sort((a, b) => key(a) - key(b))[Math.ceil(items.length / 2) - 1]!;
}

// ---------------------------------------------------------------- /proc

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function statFields(pid: number): { comm: string; ticks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime field 15.
  return { comm, ticks: Number(f[11]) + Number(f[12]) };
}

/** User + system CPU time the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  return ((statFields(pid)?.ticks ?? 0) * 1000) / CLK_TCK;
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.match(/(\d+)/)?.[1] ?? Number.NaN);
}

/** Peak resident set size since the process started (VmHWM), in MB. */
export const peakRssMb = (pid: number): number => round((statusKb(pid, 'VmHWM') * 1024) / MB);
export const rssMb = (pid: number): number => round((statusKb(pid, 'VmRSS') * 1024) / MB);

/** Which component a process belongs to: ours and the baselines by pid, services by name. */
const SERVICE_NAMES: Record<string, string> = {
  postgres: 'postgres',
  'redis-server': 'redis',
  radosgw: 's3 (rgw)',
  'ceph-osd': 's3 (rgw)',
  'ceph-mon': 's3 (rgw)',
};

interface CpuSnapshot {
  totalTicks: number;
  idleTicks: number;
  /** Interrupt and softirq time (loopback networking shows up here), no process's. */
  irqTicks: number;
  byPid: Map<number, { role: string; ticks: number; ours: boolean }>;
}

/** Roles of the processes we started (pid → name); the bench process itself is `bench`. */
export const roles = new Map<number, string>([[process.pid, 'bench']]);

function cpuSnapshot(): CpuSnapshot {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const totalTicks = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const idleTicks = cpu[3]! + cpu[4]!;
  const irqTicks = cpu[5]! + cpu[6]!;
  const byPid = new Map<number, { role: string; ticks: number; ours: boolean }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const f = statFields(pid);
    if (!f) continue;
    // Anything else is someone else's on a shared machine: named by its command.
    byPid.set(pid, { role: roles.get(pid) ?? SERVICE_NAMES[f.comm] ?? `other: ${f.comm}`, ticks: f.ticks, ours: roles.has(pid) && pid !== process.pid });
  }
  return { totalTicks, idleTicks, irqTicks, byPid };
}

function cpuShare(a: CpuSnapshot, b: CpuSnapshot): CpuShare {
  const total = b.totalTicks - a.totalTicks || 1;
  const by: Record<string, number> = {};
  let busiest: { name: string; ticks: number } | undefined;
  for (const [pid, { role, ticks, ours }] of b.byPid) {
    // A process born during the phase (a new PostgreSQL backend) counts from zero.
    const used = ticks - (a.byPid.get(pid)?.ticks ?? 0);
    by[role] = (by[role] ?? 0) + used;
    if (ours && used > (busiest?.ticks ?? 0)) busiest = { name: role, ticks: used };
  }
  by['kernel irq'] = b.irqTicks - a.irqTicks;
  const busy = total - (b.idleTicks - a.idleTicks);
  const pct = (t: number) => round((100 * t) / total);
  // Small shares of unrelated processes are lumped together as `other`.
  let other = 0;
  const shares: [string, number][] = [];
  for (const [k, t] of Object.entries(by)) {
    if (k.startsWith('other: ') && pct(t) < 2) other += t;
    else shares.push([k, pct(t)]);
  }
  shares.push(['other', pct(other)]);
  const sorted = shares.filter(([, p]) => p >= 0.5).sort((x, y) => y[1] - x[1]);
  const cores = os.availableParallelism();
  return {
    busy_pct: pct(busy),
    by: Object.fromEntries(sorted),
    ...(busiest ? { busiest: { name: busiest.name, core_pct: round((100 * cores * busiest.ticks) / total) } } : {}),
  };
}

/** Times a phase and measures what the machine's CPUs did during it. */
export function startPhase(): { end: () => { ms: number; cpu: CpuShare } } {
  const before = cpuSnapshot();
  const t0 = performance.now();
  return {
    end: () => {
      const ms = performance.now() - t0;
      return { ms, cpu: cpuShare(before, cpuSnapshot()) };
    },
  };
}

/** "machine CPU-bound: machine 97% busy (worker 45%, …)", "process CPU-bound: …; one api process at 98% of a core", or "not CPU-bound: …". */
export function describeCpu(cpu: CpuShare): string {
  const parts = Object.entries(cpu.by)
    .map(([k, v]) => `${k} ${Math.round(v)}%`)
    .join(', ');
  const one = cpu.busiest && cpu.busiest.core_pct >= 85 ? `; one ${cpu.busiest.name} process at ${Math.round(cpu.busiest.core_pct)}% of a core` : '';
  const bound = cpu.busy_pct >= 85 ? 'machine CPU-bound' : one ? 'process CPU-bound' : 'not CPU-bound';
  return `${bound}: machine ${Math.round(cpu.busy_pct)}% busy (${parts})${one}`;
}

// ---------------------------------------------------------------- services

/**
 * This scenario's own PostgreSQL schema, Redis prefix and bucket, and the environment that
 * points the apps at them: production settings except where the scenario says otherwise.
 * The sweeper is off: its once-a-minute pass is not what any figure here is about, and the
 * objects the scenarios delete between phases would only give it work no real system has.
 */
export async function benchServices(env: Record<string, string> = {}): Promise<TestServices> {
  const services = await createTestServices({
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    S3_PART_SIZE_BYTES: String(8 * 1024 * 1024),
    S3_QUEUE_SIZE: '4',
    WORKER_CONCURRENCY: '8',
    WORKER_METRICS_PORT: '0',
    MAINTENANCE_INTERVAL_MS: '0',
    ...env,
  });
  boundS3Client(services.bucket.store.client); // the bench's own S3 calls never wait forever
  return services;
}

/**
 * The producer side as the API has it (assets table, queues) plus our completion events, for
 * scenarios that enqueue directly so that the API is not part of what they measure.
 */
export async function producer(services: TestServices) {
  const sql = createSql(services.env.DATABASE_URL!);
  const redis = services.redis.redis;
  const queues = new JobQueues(redis, services.redis.prefix);
  const completions = assetCompletions(redis, services.redis.prefix);
  await completions.ready;
  return {
    sql,
    assets: new AssetsRepo(sql),
    queues,
    completions,
    close: async () => {
      await completions.stop();
      await queues.close();
      await sql.end();
    },
  };
}
export type Producer = Awaited<ReturnType<typeof producer>>;

/**
 * The local RGW keeps objects in RAM (memstore) and frees deleted data only after its GC has run
 * (30-60 s): big transfers in a row could fill it for everyone. Before one, this waits until the
 * store has room for `bytes` twice over, asking RGW to collect its garbage now if it has not.
 * Only for the local server of scripts/s3-server.sh (elsewhere it does nothing).
 */
export async function ensureS3Room(bytes: number, log: (msg: string) => void): Promise<void> {
  const stateDir = process.env.S3_STATE_DIR ?? path.join(REPO_ROOT, '.s3');
  const asok = path.join(stateDir, 'run/osd.0.asok');
  const conf = path.join(stateDir, 'ceph.conf');
  if (!existsSync(asok)) return;
  const avail = (): number | undefined => {
    try {
      const out = execFileSync('ceph', ['--admin-daemon', asok, 'perf', 'dump'], { encoding: 'utf8', timeout: 10_000 });
      return (JSON.parse(out) as { osd: { stat_bytes_avail: number } }).osd.stat_bytes_avail;
    } catch {
      return undefined; // no ceph CLI, or not our server
    }
  };
  const want = 2 * bytes + 256 * MB;
  let free = avail();
  if (free === undefined || free >= want) return;
  log(`S3 store has ${round(free / MB)} MB free, ${round(want / MB)} MB wanted: collecting deleted data`);
  try {
    execFileSync('radosgw-admin', ['-c', conf, '-n', 'client.admin', 'gc', 'process', '--include-all'], { timeout: 25_000, stdio: 'ignore' });
  } catch {
    // fall through to waiting for RGW's own GC
  }
  for (const deadline = Date.now() + 25_000; Date.now() < deadline; await sleep(2000)) {
    free = avail();
    if (free === undefined || free >= want) return;
  }
  throw new Error(
    `the S3 store (${stateDir}) stays too full: ${round((free ?? 0) / MB)} MB free, ${round(want / MB)} MB wanted for a ${round(bytes / MB)} MB transfer; ` +
      'restart it (scripts/s3-server.sh stop && scripts/s3-server.sh start) or set S3_MEMSTORE_BYTES higher',
  );
}

// ---------------------------------------------------------------- child processes

export interface Child {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Sends one JSON request line and resolves with the next JSON line the child writes. */
  call: <T = Record<string, unknown>>(msg: unknown) => Promise<T>;
  /** The last lines it wrote, for error messages. */
  tail: () => string;
  stop: (graceMs?: number) => Promise<void>;
}

interface SpawnOptions {
  name: string;
  env: Record<string, string>;
  /** Resolves once a stdout line contains this. */
  ready: string;
  profileDir?: string | undefined;
  /** Default: RUNTIME (bench/startup.ts compares both). */
  runtime?: 'compiled' | 'tsx' | undefined;
}

/**
 * How the apps and the baselines run: compiled JavaScript (`node --conditions=compiled
 * apps/<app>/dist/main.js`, with the app's flags of scripts/node-flags.json), as the Docker images
 * and `pnpm start` run the apps — bench/run.ts
 * builds them first. BENCH_RUNTIME=tsx runs the TypeScript sources through tsx instead (what the
 * images did before the compiled runtime), for a before/after comparison.
 */
export const RUNTIME: 'compiled' | 'tsx' = process.env.BENCH_RUNTIME === 'tsx' ? 'tsx' : 'compiled';

/** Node arguments that run `rel` (a .ts path under the repository, say apps/worker/src/main.ts). */
export function nodeArgsFor(rel: string, runtime = RUNTIME): string[] {
  if (runtime === 'tsx') return ['--import', 'tsx', path.join(REPO_ROOT, rel)];
  const js = rel.startsWith('bench/') ? rel.replace(/^bench\//, 'bench/dist/') : rel.replace('/src/', '/dist/');
  // An app gets the flags it runs with in production (scripts/node-flags.json); a baseline none.
  const app = rel.match(/^apps\/([^/]+)\//)?.[1];
  const flags = app ? (NODE_FLAGS[app] ?? []) : [];
  return [...flags, '--conditions=compiled', path.join(REPO_ROOT, js.replace(/\.ts$/, '.js'))];
}

const NODE_FLAGS = JSON.parse(readFileSync(path.join(REPO_ROOT, 'scripts/node-flags.json'), 'utf8')) as Record<string, string[] | undefined>;

/**
 * Starts a Node.js child (`nodeArgsFor`). stdout is scanned for the ready line, then for JSON
 * answers to `call` (the baselines' protocol); the apps' log lines are only kept, a few, for
 * error messages.
 */
function spawnNode(rel: string, opts: SpawnOptions): Promise<Child> {
  const { NODE_OPTIONS: _unused, ...inherited } = process.env;
  const prof = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`, `--cpu-prof-name=${opts.name}.\${pid}.cpuprofile`] : [];
  // BENCH_NODE_ARGS (say, "--trace-gc") goes to every child; BENCH_CHILD_OUTPUT=dir keeps their output.
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...prof, ...extra, ...nodeArgsFor(rel, opts.runtime)], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (process.env.BENCH_CHILD_OUTPUT) {
    const out = createWriteStream(path.join(process.env.BENCH_CHILD_OUTPUT, `${opts.name}.log`));
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  }
  const recent: string[] = [];
  const keep = (line: string) => {
    recent.push(line);
    if (recent.length > 30) recent.shift();
  };
  const answers: ((line: string) => void)[] = [];
  let isReady = false;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!isReady) {
      keep(line);
      if (line.includes(opts.ready)) {
        isReady = true;
        markReady();
      }
      return;
    }
    if (line.startsWith('{"reply"')) answers.shift()?.(line);
    else if (line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60')) keep(line);
  });
  readline.createInterface({ input: child.stderr! }).on('line', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const tail = () => recent.join('\n');
  const proc: Child = {
    name: opts.name,
    pid: child.pid!,
    child,
    exited,
    tail,
    call: <T>(msg: unknown) =>
      new Promise<T>((resolve, reject) => {
        const onExit = () => reject(new Error(`${opts.name} exited during a call:\n${tail()}`));
        void exited.then(onExit);
        answers.push((line) => {
          const { reply } = JSON.parse(line) as { reply: T & { error?: string } };
          if (reply.error) reject(new Error(`${opts.name}: ${reply.error}`));
          else resolve(reply);
        });
        child.stdin!.write(`${JSON.stringify(msg)}\n`);
      }),
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      roles.delete(child.pid!);
    },
  };
  roles.set(child.pid!, opts.name.replace(/-\d+$/, ''));
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return Promise.race([
    ready.then(() => proc),
    exited.then((code) => {
      throw new Error(`${opts.name} exited (${code}) before it was ready:\n${tail()}`);
    }),
    sleep(90_000, undefined, { ref: false }).then(() => {
      throw new Error(`${opts.name} not ready within 90 s:\n${tail()}`);
    }),
  ]).catch(async (err: unknown) => {
    await proc.stop(1000);
    throw err;
  });
}

const running = new Set<Child>();

/**
 * What a scenario opened, closed in reverse order when it ends however it ends (child processes
 * first): `const double = res.add(await startBotApiDouble(), (d) => d.close())`.
 */
export function resources() {
  const closers: (() => Promise<unknown>)[] = [];
  return {
    add<T>(thing: T, close: (t: T) => unknown): T {
      closers.push(async () => close(thing));
      return thing;
    },
    async close(): Promise<void> {
      await stopAll();
      for (const close of closers.reverse()) await close().catch(() => undefined);
    },
  };
}

/** Stops every child still running (end of a scenario, or a failure). */
export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...running].map((c) => c.stop(graceMs)));
}

let counter = 0;

/** Our worker (`apps/worker/src/main.ts`), ready once it logs `worker started`. */
export function startWorker(ctx: BenchContext, env: Record<string, string>, runtime?: 'compiled' | 'tsx'): Promise<Child> {
  return spawnNode('apps/worker/src/main.ts', {
    name: `worker-${++counter}`,
    env,
    ready: '"msg":"worker started"',
    profileDir: ctx.profileDir,
    runtime,
  });
}

/** Our API (`apps/api/src/main.ts`), ready once Fastify logs that it listens. */
export function startApi(ctx: BenchContext, env: Record<string, string>, runtime?: 'compiled' | 'tsx'): Promise<Child> {
  return spawnNode('apps/api/src/main.ts', {
    name: `api-${++counter}`,
    env,
    ready: '"msg":"Server listening at',
    profileDir: ctx.profileDir,
    runtime,
  });
}

/** A bare baseline from bench/baselines/, ready once it prints `{"ready":true}`. */
export function startBaseline(ctx: BenchContext, script: string, env: Record<string, string>, runtime?: 'compiled' | 'tsx'): Promise<Child> {
  return spawnNode(`bench/baselines/${script}`, {
    name: `bare-${++counter}`,
    env,
    ready: '{"ready":true}',
    profileDir: ctx.profileDir,
    runtime,
  });
}

// ---------------------------------------------------------------- images

export interface ImageFile {
  path: string;
  url: string;
  bytes: number;
}

/**
 * A valid noise PNG of about `bytes`, written to a temporary file by streamNoisePng and served
 * from disk by a local HTTP server (streamed: neither side holds it). Generating it once keeps
 * the generator's CPU out of the measurement.
 */
export async function imageServer(): Promise<{ add: (bytes: number) => Promise<ImageFile>; close: () => Promise<void> }> {
  const files = new Map<string, ImageFile>();
  const server = http.createServer((req, res) => {
    const file = files.get(req.url ?? '');
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': file.bytes });
    pipeline(createReadStream(file.path, { highWaterMark: 256 * 1024 }), res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    async add(bytes) {
      const width = 4096;
      const height = Math.max(1, Math.round(bytes / (width + 1)));
      const file = path.join(os.tmpdir(), `rehost-bench-${process.pid}-${randomUUID()}.png`);
      await pipeline(Readable.from(streamNoisePng(width, height)), createWriteStream(file));
      const image = { path: file, url: `${base}/${path.basename(file)}`, bytes: statSync(file).size };
      files.set(`/${path.basename(file)}`, image);
      return image;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      for (const f of files.values()) rmSync(f.path, { force: true });
    },
  };
}

// ---------------------------------------------------------------- completion events

/**
 * Our completion events (the `<prefix>:asset-events` stream) as they arrive: the time each
 * asset's terminal event was seen, and a way to wait until a set of assets is done.
 */
export function assetCompletions(redis: Redis, prefix: string) {
  const seen = new Map<string, { at: number; event: AssetEvent }>();
  /** `analyzed` (image facts) follows `ready`: not a completion, and it must not replace it. */
  const analyzed = new Map<string, { at: number; event: AssetEvent }>();
  const waiters = new Set<() => void>();
  const sub = subscribeAssetEvents(redis, prefix, ({ event }) => {
    (event.status === 'analyzed' ? analyzed : seen).set(event.assetId, { at: performance.now(), event });
    for (const w of waiters) w();
  });
  /** Every id in `events`; one whose event is `bad` rejects at once. */
  const waitForAll = (
    events: Map<string, { event: AssetEvent }>,
    ids: string[],
    timeoutMs: number,
    what: string,
    bad: (event: AssetEvent) => string | undefined,
  ): Promise<void> =>
    waitUntil(
      () => {
        for (const id of ids) {
          const e = events.get(id);
          if (!e) return false;
          const problem = bad(e.event);
          if (problem) throw new Error(`asset ${id} ${problem}`);
        }
        return true;
      },
      waiters,
      timeoutMs,
      () => `${ids.filter((id) => !events.has(id)).length} of ${ids.length} assets not ${what}`,
    );
  return {
    ready: sub.ready,
    seen,
    analyzed,
    /** Resolves when every id has its facts; rejects when one could not be analysed, or on a timeout. */
    waitForAnalyzed: (ids: string[], timeoutMs: number) =>
      waitForAll(analyzed, ids, timeoutMs, 'analysed', (e) => (e.error ? `was not analysed: ${JSON.stringify(e.error)}` : undefined)),
    /** Resolves when every id has a terminal event; rejects on a failed asset or a timeout. */
    waitFor: (ids: string[], timeoutMs: number) =>
      waitForAll(seen, ids, timeoutMs, 'done', (e) => (e.status !== 'ready' ? `ended ${e.status}: ${JSON.stringify(e.error)}` : undefined)),
    stop: () => sub.stop(),
  };
}

/** Re-checks `done` on every notification until it holds (or throws); gives up after `timeoutMs`. */
export function waitUntil(done: () => boolean, waiters: Set<() => void>, timeoutMs: number, what: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      try {
        if (!done()) return;
      } catch (err) {
        finish();
        reject(err);
        return;
      }
      finish();
      resolve();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${timeoutMs} ms: ${what()}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}

/** Calls `fn(i)` for i in 0..n-1 at `perSecond` on a fixed schedule (not waiting for each). */
export async function paced(perSecond: number, n: number, fn: (i: number) => void): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / perSecond - performance.now();
    if (wait > 1) await sleep(wait);
    fn(i);
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function forEachLimit<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Deletes every object in the bucket (between phases, so RGW's memstore does not fill up). */
export async function emptyBucket(store: ObjectStore): Promise<void> {
  for (;;) {
    const keys = await store.listKeys('');
    if (keys.length === 0) return;
    await forEachLimit(keys, 32, (key) => store.delete(key));
  }
}
