/**
 * `node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]`: where a `--cpu-prof`
 * profile (`pnpm bench --profile`) spent its samples — self time by function and by package.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfMs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
});

/** `bullmq`, `@aws-sdk/client-s3`, `apps/worker`, `node:internal`, … */
function packageOf(url: string): string {
  if (!url) return '(native / vm)';
  if (url.startsWith('node:')) return url.replace(/^node:internal\/([^/]+).*/, 'node:$1');
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = url.match(/\/(apps\/[^/]+|packages\/[^/]+|bench)\//);
  return m ? m[1]! : url;
}

const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
/** The nearest caller that is a package (not node internals, not native): who asked for the work. */
function owner(id: number): string {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const pkg = packageOf(byId.get(at)!.callFrame.url);
    if (!pkg.startsWith('node:') && !pkg.startsWith('(')) return pkg;
  }
  return packageOf(byId.get(id)!.callFrame.url);
}

const fns = new Map<string, number>();
const owners = new Map<string, number>();
const pkgs = new Map<string, number>();
let total = 0;
for (const [id, ms] of selfMs) {
  const { callFrame: f } = byId.get(id)!;
  total += ms;
  const name = `${f.functionName || '(anonymous)'}  ${packageOf(f.url)}${f.url && !f.url.startsWith('node:') ? `:${f.lineNumber + 1}` : ''}`;
  fns.set(name, (fns.get(name) ?? 0) + ms);
  pkgs.set(packageOf(f.url), (pkgs.get(packageOf(f.url)) ?? 0) + ms);
  const who = f.functionName === '(idle)' ? '(idle)' : owner(id);
  owners.set(who, (owners.get(who) ?? 0) + ms);
}
process.stdout.on('error', () => process.exit(0)); // piped into head
const show = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title} (of ${total.toFixed(0)} ms sampled)\n`);
  for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
};
show('self time by package', pkgs);
show('self time by the package that caused it (node internals and native code charged to their caller)', owners);
show('self time by function', fns);
