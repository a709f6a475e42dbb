/**
 * `pnpm bench [--smoke] [--only a,b] [--profile] [--out file]`
 *
 * Runs each scenario against the real services (PostgreSQL, Redis, RGW) beside a bare baseline
 * measured in the same run, writes the results as JSON (bench/results/latest.json; the smoke
 * writes bench/results/smoke.json) and, for full runs, the table in docs/BENCHMARKS.md.
 * `--only` re-measures some scenarios and keeps the others' results from the output file.
 * `--profile` writes a `--cpu-prof` profile of every child process to bench/results/profiles/.
 *
 * It builds what it runs first (the apps and the baselines, compiled: see `nodeArgsFor` in
 * lib.ts), checks that the S3 store answers (bench/store-check.ts) and watches it during the run.
 * `pnpm bench` runs it through scripts/with-services.sh, which starts PostgreSQL, Redis and the
 * local S3 server when they are not running (and stops what it started).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkResults, SCENARIO_KEYS, type ScenarioKey } from './check-results.js';
import { type BenchContext, machineInfo, REPO_ROOT, RUNTIME, type ScenarioResult, stopAll } from './lib.js';
import { writeReport } from './report.js';
import { analyzeCost } from './scenarios/analyze.js';
import { apiEnqueue } from './scenarios/api-enqueue.js';
import { e2eSmall } from './scenarios/e2e-small.js';
import { finalize } from './scenarios/finalize.js';
import { memory } from './scenarios/memory.js';
import { rehostStream } from './scenarios/rehost-stream.js';
import { similar } from './scenarios/similar.js';
import { list } from './scenarios/list.js';
import { checkStore, StoreUnavailableError, storeTarget } from './store-check.js';

const scenarios: Record<ScenarioKey, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  rehost_stream: rehostStream,
  memory,
  e2e_small: e2eSmall,
  api_enqueue: apiEnqueue,
  finalize,
  similar,
  list,
  analyze: analyzeCost,
};

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const smoke = args.smoke!;
const out = path.resolve(REPO_ROOT, args.out ?? `bench/results/${smoke ? 'smoke' : 'latest'}.json`);
const only = args.only ? (args.only.split(',').map((s) => s.trim()) as ScenarioKey[]) : [...SCENARIO_KEYS];
for (const key of only) if (!(key in scenarios)) throw new Error(`unknown scenario ${key}; known: ${SCENARIO_KEYS.join(', ')}`);

const profileDir = args.profile ? path.join(REPO_ROOT, 'bench/results/profiles') : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
mkdirSync(path.dirname(out), { recursive: true });

const started = Date.now();
const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);

// Results of scenarios not re-run this time are kept (each carries its own baseline and time).
const previous = args.only && existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as { scenarios?: Record<string, ScenarioResult> }) : {};
const results = {
  schema_version: 1,
  mode: smoke ? 'smoke' : 'full',
  started_at: new Date(started).toISOString(),
  finished_at: '',
  machine: machineInfo(),
  scenarios: { ...previous.scenarios } as Record<string, ScenarioResult>,
};

if (RUNTIME === 'compiled') {
  log('building the apps and the baselines (compiled JavaScript, as the images run them)');
  const quiet = { cwd: REPO_ROOT, stdio: ['ignore', process.stderr, process.stderr] as ('ignore' | NodeJS.WriteStream)[], timeout: 300_000 };
  execFileSync('pnpm', ['turbo', 'run', 'build', '--filter=@rehost/worker...', '--filter=@rehost/api...', '--output-logs=errors-only'], {
    ...quiet,
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  for (const dir of ['baselines', 'deps']) {
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts/build-js.mjs'), `--src=${dir}`, `--out=dist/${dir}`], {
      ...quiet,
      cwd: path.join(REPO_ROOT, 'bench'),
    });
  }
}

// A store that is down, full or silent ends the run within a minute, naming it.
const target = storeTarget();
let watchdog: Awaited<ReturnType<typeof checkStore>>;
try {
  watchdog = await checkStore(target, (err) => {
    log(`FAILED: ${err.message}`);
    log('stopping: the scenarios cannot finish without the store');
    // Children get a few seconds to exit; whatever the scenario is waiting on is abandoned.
    void Promise.race([stopAll(5_000), new Promise((r) => setTimeout(r, 10_000))]).finally(() => process.exit(1));
  });
} catch (err) {
  log(err instanceof StoreUnavailableError ? `FAILED pre-flight: ${err.message}` : `FAILED pre-flight: ${String(err)}`);
  process.exit(1);
}
log(`S3 store at ${target.endpoint} answers (PUT/GET/DELETE); watching it during the run`);

let failed = false;
for (const key of only) {
  log(`${key}: start`);
  const ctx: BenchContext = { smoke, profileDir, log: (msg) => log(`${key}: ${msg}`) };
  try {
    results.scenarios[key] = await scenarios[key](ctx);
    log(`${key}: ${JSON.stringify(results.scenarios[key].targets)}`);
  } catch (err) {
    failed = true;
    log(`${key}: FAILED ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopAll();
  }
}
results.finished_at = new Date().toISOString();
await watchdog.stop();

writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
log(`wrote ${path.relative(REPO_ROOT, out)}`);
const problems = checkResults(results);
for (const p of problems) log(`results: ${p}`);
// The docs show full runs written to the default place only (not the smoke, not scratch files).
if (!smoke && !args.out && problems.length === 0) {
  writeReport(results, path.join(REPO_ROOT, 'docs/BENCHMARKS.md'));
  log('wrote docs/BENCHMARKS.md');
}
process.exit(failed || problems.length > 0 ? 1 : 0);
