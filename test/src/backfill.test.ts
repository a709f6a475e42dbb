import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { type Stack, startStack } from './stack.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'apps/cli/src/main.ts');
const N = 24;

let stack: Stack;
let double: BotApiDouble;
let dir: string;

beforeAll(async () => {
  double = await startBotApiDouble();
  for (let i = 0; i < N; i++) double.addFile({ fileId: `bf-${i}`, fileUniqueId: `bf-uniq-${i}`, bytes: makePng(10 + i, 10) });
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: double.token, TELEGRAM_API_BASE_URL: double.baseUrl } });
  dir = mkdtempSync(path.join(tmpdir(), 'rehost-backfill-'));
});
afterAll(async () => {
  await stack?.close();
  await double?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runCli(args: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const env: NodeJS.ProcessEnv = { ...process.env, REHOST_API_URL: stack.baseUrl, REHOST_API_TOKEN: stack.token };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the child
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'backfill', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, exited };
}

/** Resolves once the in-process rehost worker has completed `n` jobs. */
function rehostJobsCompleted(n: number): Promise<void> {
  const worker = stack.workers!.workers.find((w) => w.name === 'rehost')!;
  let count = 0;
  return new Promise((resolve) => {
    const on = () => {
      if (++count < n) return;
      worker.off('completed', on);
      resolve();
    };
    worker.on('completed', on);
  });
}

describe('pnpm rehost backfill', () => {
  it('resumes after Ctrl-C without creating a second asset for any ref', async () => {
    const input = path.join(dir, 'input.jsonl');
    const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ fileId: `bf-${i}`, ref: `legacy-${i}` }));
    lines.splice(3, 0, '{"ref":"broken"}', '');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const state = path.join(dir, 'state.json');
    const report = path.join(dir, 'report.jsonl');
    const args = ['--input', input, '--rate', '10/s', '--state', state, '--report', report, '--progress-every', '1'];

    // First run: interrupted once a few assets are through.
    const fewDone = rehostJobsCompleted(5);
    const first = runCli(args);
    await fewDone;
    first.child.kill('SIGINT');
    const r1 = await first.exited;
    expect(r1.stderr).toContain('interrupted');
    expect(r1.code).toBe(130);
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { position: number; input: string };
    expect(saved.input).toBe(input);
    expect(saved.position).toBeGreaterThan(0);
    expect(saved.position).toBeLessThan(lines.length);

    // Second run: picks up where the first stopped and collects every result.
    const second = runCli(args);
    const r2 = await second.exited;
    expect(r2.stderr).toContain(`resuming at line ${saved.position + 1}`);
    expect(r2.stderr).toContain('finished');
    expect(r2.code).toBe(1); // the broken line is reported as invalid

    const { rows } = await stack.services.db.query<{ telegramFileId: string; n: number }>(
      'SELECT "telegramFileId", count(*)::int AS n FROM "Asset" GROUP BY "telegramFileId" ORDER BY "telegramFileId"',
    );
    expect(rows).toHaveLength(N);
    for (const row of rows) expect(row.n).toBe(1);

    const reported = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byRef = new Map<string, any[]>();
    for (const r of reported) byRef.set(r.ref, [...(byRef.get(r.ref) ?? []), r]);
    expect(byRef.size).toBe(N + 1);
    expect(byRef.get('broken')).toEqual([{ ref: 'broken', line: 3, assetId: null, status: 'invalid', error: { code: 'invalid_line', message: expect.any(String) } }]);
    for (let i = 0; i < N; i++) {
      const mine = byRef.get(`legacy-${i}`)!;
      expect(mine).toHaveLength(1);
      expect(mine[0]).toEqual({ ref: `legacy-${i}`, assetId: expect.any(String), status: 'ready', url: expect.stringMatching(/^http/) });
    }
    const assetIds = reported.filter((r) => r.assetId).map((r) => r.assetId);
    expect(new Set(assetIds).size).toBe(N);

    // A third run has nothing left to do and changes nothing.
    const third = await runCli(args).exited;
    expect(third.code).toBe(1);
    const after = await stack.services.db.query('SELECT count(*)::int AS n FROM "Asset"');
    expect(after.rows[0]!.n).toBe(N);
    expect(readFileSync(report, 'utf8').trim().split('\n')).toHaveLength(reported.length);
  });

  it('refuses bad usage with exit code 2', async () => {
    const { code, stderr } = await runCli(['--rate', 'fast']).exited;
    expect(code).toBe(2);
    expect(stderr).toContain('--rate');
  });
});
