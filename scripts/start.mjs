// `pnpm start`: runs api, worker and dashboard with the environment as given, each
// with its name before every line; stops all when one exits or on Ctrl-C/SIGTERM.
// They run compiled (apps/<name>/dist/main.js with `--conditions=compiled`, as in the Docker
// images; `pnpm start` builds first). `--src` runs the TypeScript sources through tsx instead
// (./dev.sh: no build step while editing).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fromSource = process.argv.includes('--src');
const apps = ['api', 'worker', 'dashboard'];
const colors = { api: 36, worker: 35, dashboard: 33 };
// Per-app Node.js flags, the same as the images' (docker/app.Dockerfile).
const nodeFlags = JSON.parse(readFileSync(path.join(root, 'scripts/node-flags.json'), 'utf8'));
const argsFor = (name) => {
  if (fromSource) return ['--import', 'tsx', path.join(root, `apps/${name}/src/main.ts`)];
  const main = path.join(root, `apps/${name}/dist/main.js`);
  if (!existsSync(main)) {
    console.error(`start: ${path.relative(root, main)} is missing: run \`pnpm build\` (or \`pnpm start\`, which builds)`);
    process.exit(1);
  }
  return [...(nodeFlags[name] ?? []), '--conditions=compiled', main];
};
const args = Object.fromEntries(apps.map((name) => [name, argsFor(name)]));
const children = apps.map((name) => {
  const child = spawn(process.execPath, args[name], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tag = process.stdout.isTTY ? `\x1b[${colors[name]}m${name.padEnd(9)}\x1b[0m` : name.padEnd(9);
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => console.log(`${tag} ${line}`));
  }
  child.on('exit', (code, signal) => {
    console.log(`${tag} exited (${signal ?? code})`);
    stopAll(code ?? 1);
  });
  return child;
});

let stopping = false;
function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }, 30_000);
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() => {
    clearTimeout(force);
    process.exit(code);
  });
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
