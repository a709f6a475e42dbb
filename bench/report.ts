/**
 * The results table of docs/BENCHMARKS.md, rewritten by every full run between the two markers
 * below; the rest of that file (method, analysis) is written by hand and left alone.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ScenarioResult, TargetResult } from './lib.js';

const START = '<!-- bench:results:start (written by `pnpm bench`; edits here are overwritten) -->';
const END = '<!-- bench:results:end -->';

interface Results {
  mode: string;
  started_at: string;
  machine: { nproc: number; cpu_model: string; mem_total_mb: number; node: string; kernel: string };
  scenarios: Record<string, ScenarioResult>;
}

type Row = [figure: string, ours: unknown, bare: unknown, target?: TargetResult];

const num = (v: unknown): string => (typeof v === 'number' ? String(v) : '–');
const ratio = (a: unknown, b: unknown): string => (typeof a === 'number' && typeof b === 'number' && b > 0 ? (a / b).toFixed(2) : '–');
const met = (t?: TargetResult): string => (t ? `${t.pass ? '**met**' : '**missed**'} (${t.target}; ${t.value})` : '');

function rows(key: string, s: ScenarioResult): Row[] {
  const t = s.targets;
  const v = (k: string) => s[k];
  switch (key) {
    case 'rehost_stream':
      return [
        [`throughput, MB/s (${v('file_mb')} MB, median of ${(v('runs') as { ours_mb_per_s: number[] }).ours_mb_per_s.length})`, v('mb_per_s'), v('baseline_mb_per_s'), t.ratio],
        ['CPU of the worker / bare process, ms per MB', v('cpu_ms_per_mb'), v('baseline_cpu_ms_per_mb')],
      ];
    case 'memory':
      return [
        [`peak RSS, MB, ${v('file_mb_100')} MB file`, v('peak_rss_mb_100'), v('baseline_peak_rss_mb_100')],
        [`peak RSS, MB, ${v('file_mb_1000')} MB file`, v('peak_rss_mb_1000'), v('baseline_peak_rss_mb_1000'), t.over_baseline],
        ['growth 100 MB → 1 GB', ratio(v('peak_rss_mb_1000'), v('peak_rss_mb_100')), ratio(v('baseline_peak_rss_mb_1000'), v('baseline_peak_rss_mb_100')), t.growth],
        ['RSS of the idle process, MB', v('idle_rss_mb'), v('baseline_idle_rss_mb')],
      ];
    case 'e2e_small':
      return [
        [`jobs/s, 1 worker process (${v('jobs')} jobs)`, v('jobs_per_s_1_worker'), v('baseline_jobs_per_s_1_worker'), t.throughput_1_worker],
        ['jobs/s, 2 worker processes', v('jobs_per_s_2_workers'), v('baseline_jobs_per_s_2_workers'), t.throughput_2_workers],
        ['worker CPU, ms per job (1 process)', v('cpu_ms_per_job'), v('baseline_cpu_ms_per_job'), t.cpu_per_job],
        [`enqueue → completion p50, ms (at ${v('latency_rate_per_s')}/s)`, v('p50_ms'), v('baseline_p50_ms'), t.p50],
        ['enqueue → completion p99, ms', v('p99_ms'), v('baseline_p99_ms')],
        [`jobs/s with image analysis on, until the facts are recorded (${v('analyzed_jobs')} × ${v('analyzed_image_bytes')} B JPEG, 1 process)`, v('jobs_per_s_analyzed'), v('baseline_jobs_per_s_analyzed'), t.throughput_analyzed],
        ['worker CPU with image analysis on, ms per job', v('cpu_ms_per_job_analyzed'), v('baseline_cpu_ms_per_job_analyzed'), t.cpu_per_job_analyzed],
      ];
    case 'api_enqueue':
      return [
        ['POST /v1/rehost req/s vs awaited INSERT + queue.add/s', v('req_per_s'), v('baseline_queue_add_per_s'), t.throughput],
        ['req/s at most, ours vs the bare server (its room at the half-load pace)', v('req_per_s'), v('baseline_server_req_per_s')],
        [
          `p50 / p99 at half load (${v('half_rate_per_s')}/s; median of 3 windows' p99: ${(v('p99_ms_windows') as number[] | undefined)?.join(', ') ?? '-'}; bare server's: ${(v('baseline_p99_ms_windows') as number[] | undefined)?.join(', ') ?? '-'}), ms`,
          `${num(v('p50_ms'))} / ${num(v('p99_ms'))}`,
          v('baseline_p99_ms') === undefined ? '' : `${num(v('baseline_p50_ms'))} / ${num(v('baseline_p99_ms'))}`,
          t.p99,
        ],
      ];
    case 'finalize':
      return [
        [`jobs/s (${v('jobs')} × ~1 MB)`, v('jobs_per_s'), v('baseline_jobs_per_s'), t.throughput],
        ['worker / bare process CPU, ms per job', v('cpu_ms_per_job'), v('baseline_cpu_ms_per_job'), t.cpu],
      ];
    case 'analyze':
      return [
        [`analysis of a ~100 KB JPEG (${v('bytes_100kb')} B), ms, vs bare sharp`, v('decode_ms_100kb'), v('baseline_ms_100kb'), t.ratio_100kb],
        ['whole analyze job (store read, decode, record, event), ms, ~100 KB', v('job_ms_100kb'), v('baseline_ms_100kb')],
        [`analysis of a 12 MP JPEG (${v('bytes_12mp')} B), ms, vs bare sharp`, v('decode_ms_12mp'), v('baseline_ms_12mp'), t.ratio_12mp],
        ['whole analyze job, ms, 12 MP', v('job_ms_12mp'), v('baseline_ms_12mp')],
      ];
    case 'similar':
      return [
        [`similar p50 / p99, ms, maxDistance=8 (${v('owner_assets')} assets of one owner; bare = scan of the owner)`, `${num(v('p50_ms'))} / ${num(v('p99_ms'))}`, `${num(v('scan_p50_ms'))} / ${num(v('scan_p99_ms'))}`, t.p99],
        ['similar p99, ms, maxDistance=10 / 16 (index)', `${num(v('p99_ms_d10'))} / ${num(v('p99_ms_d16'))}`, ''],
      ];
    case 'list':
      return [[`one page of GET /v1/assets?ownerId= (50 of ${v('owner_assets')}), p50 / p99, ms`, `${num(v('p50_ms'))} / ${num(v('p99_ms'))}`, '', t.p99]];
    default:
      return [];
  }
}

export function renderTable(results: Results): string {
  const m = results.machine;
  const lines = [
    START,
    '',
    `Run of ${results.started_at.slice(0, 16).replace('T', ' ')} UTC (${results.mode}) on ${m.nproc} cores (${m.cpu_model}), ` +
      `${Math.round(m.mem_total_mb / 1000)} GB RAM, Node.js ${m.node}, Linux ${m.kernel}. ` +
      'MB = 10^6 bytes. Every process of the test — apps, baselines, PostgreSQL, Redis, RGW, the load ' +
      'generator — shares these cores, and so do other tenants of the machine.',
    '',
    '| Scenario | Figure | Ours | Bare | Ours / bare | Target |',
    '|---|---|---|---|---|---|',
  ];
  for (const [key, s] of Object.entries(results.scenarios)) {
    for (const [figure, ours, bare, t] of rows(key, s)) {
      const r = typeof ours === 'number' && typeof bare === 'number' ? ratio(ours, bare) : '';
      lines.push(`| ${key} | ${figure} | ${typeof ours === 'string' ? ours : num(ours)} | ${typeof bare === 'string' ? bare : num(bare)} | ${r} | ${met(t)} |`);
    }
  }
  lines.push('', 'CPU during the measured phases (share of the whole machine), as recorded in `bench/results/latest.json`:', '');
  for (const [key, s] of Object.entries(results.scenarios)) lines.push(`- **${key}** (${s.measured_at.slice(0, 16).replace('T', ' ')}): ${s.limited_by}`);
  lines.push('', END);
  return lines.join('\n');
}

/** Replaces the generated block of `file` (or appends it, creating the file if needed). */
export function writeReport(results: Results, file: string): void {
  const table = renderTable(results);
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  const next = start >= 0 && end > start ? text.slice(0, start) + table + text.slice(end + END.length) : `${text.trimEnd()}\n\n${table}\n`;
  writeFileSync(file, next);
}
