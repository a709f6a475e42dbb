/**
 * The fault-injection suite: `pnpm test:faults` (full, a few minutes) or `pnpm test:faults --smoke`
 * (small batches and short faults, for ./test.sh). `--only=name,name` runs some scenarios.
 *
 * Every scenario runs against the real PostgreSQL, Redis and S3 server, with the apps as child
 * processes (or the API in-process where it is not what is faulted), submits a batch, injects its
 * fault, waits for terminal states (on completion events, bounded) and counts. Results go to
 * reliability/results/latest.json and latest.md (a --smoke run: smoke.json and smoke.md); a full
 * run also rewrites the table in docs/RELIABILITY.md. Exits 1 if anything was lost or duplicated, or a scenario check failed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './lib/report.js';
import type { ScenarioResult } from './lib/tally.js';
import { apiRestart } from './scenarios/api-restart.js';
import { burst } from './scenarios/burst.js';
import { deleteWhileRunning } from './scenarios/delete-while-running.js';
import { erasure } from './scenarios/erasure.js';
import { manyOwners } from './scenarios/many-owners.js';
import { pgOutage } from './scenarios/pg-outage.js';
import { redisDataLoss } from './scenarios/redis-data-loss.js';
import { redisKill } from './scenarios/redis-kill.js';
import { s3Faults } from './scenarios/s3-faults.js';
import { sameFile } from './scenarios/same-file.js';
import { telegramFaults } from './scenarios/telegram-faults.js';
import type { Scenario } from './scenarios/types.js';
import { workerFreeze } from './scenarios/worker-freeze.js';
import { workerKill } from './scenarios/worker-kill.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCENARIOS: Scenario[] = [workerKill, redisKill, pgOutage, s3Faults, telegramFaults, sameFile, apiRestart, burst, workerFreeze, redisDataLoss, deleteWhileRunning, manyOwners, erasure];

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const selected = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
if (selected.length === 0) {
  process.stderr.write(`no scenario matches --only; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}

const logDir = path.join(os.tmpdir(), `rehost-faults-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const log = (msg: string) => process.stdout.write(`${msg}\n`);
log(`fault suite (${smoke ? 'smoke' : 'full'}): ${selected.map((s) => s.name).join(', ')}; app logs in ${logDir}`);

const started = Date.now();
const results: ScenarioResult[] = [];
for (const scenario of selected) {
  const t = Date.now();
  log(`\n== ${scenario.name}`);
  let result: ScenarioResult;
  try {
    result = await scenario.run({ smoke, logDir, log });
  } catch (err) {
    // A scenario that could not run is a failure of the suite, reported like any other.
    result = {
      name: scenario.name,
      fault: '(scenario did not complete)',
      submitted: 0,
      ready: 0,
      failed: 0,
      lost: 0,
      duplicates: 0,
      refused: 0,
      durationMs: Date.now() - t,
      checks: [{ name: 'scenario ran to the end', ok: false, detail: err instanceof Error ? (err.stack ?? err.message) : String(err) }],
      notes: {},
      failedCodes: {},
      problems: [],
    };
  }
  results.push(result);
  const failedChecks = result.checks.filter((c) => !c.ok);
  log(
    `   submitted ${result.submitted}, ready ${result.ready}, failed ${result.failed}, lost ${result.lost}, duplicates ${result.duplicates}` +
      (result.refused ? `, refused ${result.refused}` : '') +
      ` (${(result.durationMs / 1000).toFixed(1)} s)`,
  );
  if (Object.keys(result.failedCodes).length) log(`   failed codes: ${JSON.stringify(result.failedCodes)}`);
  for (const p of result.problems) log(`   ! ${p}`);
  for (const c of failedChecks) log(`   ✗ ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
  log(`   notes: ${JSON.stringify(result.notes)}`);
}

const ok = results.every((r) => r.lost === 0 && r.duplicates === 0 && r.checks.every((c) => c.ok));
const report = {
  mode: smoke ? 'smoke' : 'full',
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: { cpus: os.cpus().length, node: process.version },
  ok,
  scenarios: results,
};
const resultsDir = path.join(ROOT, 'reliability/results');
mkdirSync(resultsDir, { recursive: true });
// A smoke run writes smoke.*, so ./test.sh never overwrites the committed full run.
const base = smoke ? 'smoke' : 'latest';
writeFileSync(path.join(resultsDir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
const table = markdownTable(report);
writeFileSync(path.join(resultsDir, `${base}.md`), table);
if (!smoke && !only) {
  // The docs show the latest full run: the table between the markers is replaced.
  const doc = path.join(ROOT, 'docs/RELIABILITY.md');
  const text = existsSync(doc) ? readFileSync(doc, 'utf8') : '';
  const begin = '<!-- fault-table:begin -->';
  const end = '<!-- fault-table:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${table}${text.slice(j)}`);
}
log(`\n${table}`);
log(`fault suite ${ok ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s; results in reliability/results/${base}.json`);
process.exit(ok ? 0 : 1);
