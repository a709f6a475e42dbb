// `pnpm build` (turbo `build`) runs this in each app and package: src/**/*.ts → dist/**/*.js,
// one file at a time with SWC (types stripped, nothing bundled; TypeScript's own checks stay in
// `typecheck`), plus a source map each, and every other file under src (HTML, …) copied as is.
// Tests (*.test.ts) and declaration files are left out. The compiled files are what the Docker
// images and `pnpm start` run, with `node --conditions=compiled`: that condition points each
// workspace package's `exports` at its dist/; without it (tests, tsx, tsc) they resolve to src/.
//
// Usage (from a package directory): node ../../scripts/build-js.mjs [--src=src] [--out=dist]
// (bench/run.ts compiles the bare baselines the same way, with other directories).
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { transformFile } from '@swc/core';

const { values: args } = parseArgs({ options: { src: { type: 'string', default: 'src' }, out: { type: 'string', default: 'dist' } } });
const srcDir = path.resolve(args.src);
const outDir = path.resolve(args.out);
// dist/ is wiped first: never a directory that holds the sources or the package itself.
const inside = (dir, parent) => !path.relative(parent, dir).startsWith('..');
if (inside(srcDir, outDir) || inside(process.cwd(), outDir)) throw new Error(`build-js: refusing to wipe ${outDir}`);

const swcOptions = {
  jsc: { parser: { syntax: 'typescript' }, target: 'es2023', keepClassNames: true },
  module: { type: 'es6' },
  sourceMaps: true,
  swcrc: false,
  configFile: false,
};

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

const started = performance.now();
rmSync(outDir, { recursive: true, force: true });
const jobs = [];
let copied = 0;
for (const file of walk(srcDir)) {
  const rel = path.relative(srcDir, file);
  if (/\.test\.ts$|\.d\.ts$|\.md$/.test(rel)) continue;
  mkdirSync(path.join(outDir, path.dirname(rel)), { recursive: true });
  if (!rel.endsWith('.ts')) {
    copyFileSync(file, path.join(outDir, rel));
    copied++;
    continue;
  }
  const out = path.join(outDir, rel.replace(/\.ts$/, '.js'));
  jobs.push(
    transformFile(file, { ...swcOptions, filename: file, sourceFileName: path.relative(path.dirname(out), file) }).then(({ code, map }) => {
      writeFileSync(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
      if (map) writeFileSync(`${out}.map`, map);
    }),
  );
}
await Promise.all(jobs);
console.log(`build-js: ${path.relative(process.cwd(), srcDir) || '.'} → ${path.relative(process.cwd(), outDir)}: ${jobs.length} files compiled, ${copied} copied, ${Math.round(performance.now() - started)} ms`);
