import type { ScenarioResult } from './tally.js';

interface Report {
  mode: string;
  startedAt: string;
  durationMs: number;
  machine: { cpus: number; node: string };
  ok: boolean;
  scenarios: ScenarioResult[];
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The results as a markdown table (written to latest.md and into docs/RELIABILITY.md). */
export function markdownTable(r: Report): string {
  const head = [
    `Latest ${r.mode} run: ${r.startedAt}, ${(r.durationMs / 1000).toFixed(0)} s, ${r.machine.cpus} CPUs, Node ${r.machine.node} — **${r.ok ? 'passed' : 'FAILED'}**`,
    '',
    '| scenario | fault | submitted | ready | failed | lost | duplicates | checks | key figures |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  const rows = r.scenarios.map((s) => {
    const bad = s.checks.filter((c) => !c.ok);
    const checks = bad.length === 0 ? `${s.checks.length} ok` : `✗ ${bad.map((c) => c.name).join('; ')}`;
    const extra = s.refused ? ` (${s.refused} refused: 429)` : '';
    return `| ${s.name} | ${cell(s.fault)} | ${s.submitted}${extra} | ${s.ready} | ${s.failed} | ${s.lost} | ${s.duplicates} | ${cell(checks)} | ${cell(s.summary ?? '')} |`;
  });
  return `${[...head, ...rows].join('\n')}\n`;
}
