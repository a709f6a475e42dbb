/**
 * Checks the shape of a results file (`pnpm bench` writes it; the smoke checks its own):
 * every scenario present with every figure a finite number, every target judged, what limited
 * it said. It does not judge the figures: a missed target is a result, not a broken file.
 *
 * `node --import tsx bench/check-results.ts [file]` (default bench/results/latest.json).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The figures each scenario must report (it may report more). */
export const REQUIRED = {
  rehost_stream: ['file_mb', 'mb_per_s', 'baseline_mb_per_s', 'ratio'],
  memory: ['peak_rss_mb_100', 'peak_rss_mb_1000', 'baseline_peak_rss_mb_1000'],
  e2e_small: [
    'jobs_per_s_1_worker',
    'jobs_per_s_2_workers',
    'baseline_jobs_per_s_1_worker',
    'baseline_jobs_per_s_2_workers',
    'cpu_ms_per_job',
    'baseline_cpu_ms_per_job',
    'p50_ms',
    'p99_ms',
    'baseline_p50_ms',
    'jobs_per_s_analyzed',
    'baseline_jobs_per_s_analyzed',
    'cpu_ms_per_job_analyzed',
    'baseline_cpu_ms_per_job_analyzed',
  ],
  api_enqueue: ['req_per_s', 'p50_ms', 'p99_ms', 'baseline_queue_add_per_s'],
  finalize: ['jobs_per_s', 'baseline_jobs_per_s', 'ratio', 'cpu_ms_per_job', 'baseline_cpu_ms_per_job'],
  analyze: ['baseline_ms_100kb', 'decode_ms_100kb', 'job_ms_100kb', 'baseline_ms_12mp', 'decode_ms_12mp', 'job_ms_12mp'],
  similar: ['owner_assets', 'p50_ms', 'p99_ms', 'scan_p50_ms', 'scan_p99_ms', 'mismatches_vs_scan'],
  list: ['owner_assets', 'pages', 'p50_ms', 'p99_ms'],
} as const;

export type ScenarioKey = keyof typeof REQUIRED;
export const SCENARIO_KEYS = Object.keys(REQUIRED) as ScenarioKey[];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Problems found, as sentences; empty when the file is well-formed. */
export function checkResults(results: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(results)) return ['the results are not a JSON object'];
  if (results.schema_version !== 1) problems.push('schema_version is not 1');
  if (results.mode !== 'full' && results.mode !== 'smoke') problems.push('mode is neither "full" nor "smoke"');
  for (const k of ['started_at', 'finished_at']) {
    if (typeof results[k] !== 'string' || Number.isNaN(Date.parse(results[k] as string))) problems.push(`${k} is not a date`);
  }
  const machine = results.machine;
  if (!isObject(machine) || !isNumber(machine.nproc) || typeof machine.cpu_model !== 'string' || typeof machine.node !== 'string') {
    problems.push('machine must give nproc, cpu_model and node');
  }
  const scenarios = results.scenarios;
  if (!isObject(scenarios)) return [...problems, 'scenarios is missing'];
  for (const key of SCENARIO_KEYS) {
    const s = scenarios[key];
    if (!isObject(s)) {
      problems.push(`${key}: missing (did the scenario fail?)`);
      continue;
    }
    for (const figure of REQUIRED[key]) {
      if (!isNumber(s[figure]) || (s[figure] as number) < 0) problems.push(`${key}.${figure} is not a non-negative number`);
    }
    if (typeof s.limited_by !== 'string' || s.limited_by === '') problems.push(`${key}.limited_by is missing`);
    if (typeof s.measured_at !== 'string' || Number.isNaN(Date.parse(s.measured_at))) problems.push(`${key}.measured_at is not a date`);
    if (!isObject(s.targets) || Object.keys(s.targets).length === 0) {
      problems.push(`${key}.targets is missing`);
      continue;
    }
    for (const [name, t] of Object.entries(s.targets)) {
      if (!isObject(t) || typeof t.target !== 'string' || typeof t.pass !== 'boolean' || !isNumber(t.value)) {
        problems.push(`${key}.targets.${name} must give target (string), value (number) and pass (boolean)`);
      }
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.resolve(process.argv[2] ?? fileURLToPath(new URL('results/latest.json', import.meta.url)));
  const problems = checkResults(JSON.parse(readFileSync(file, 'utf8')));
  for (const p of problems) process.stderr.write(`${path.basename(file)}: ${p}\n`);
  if (problems.length === 0) process.stdout.write(`${path.basename(file)}: well-formed\n`);
  process.exit(problems.length === 0 ? 0 : 1);
}
