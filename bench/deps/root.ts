/**
 * A path in the repository, from wherever this file runs: bench/deps/ under tsx, or
 * bench/dist/deps/ once compiled (the baselines run compiled, as the apps do).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

let root: URL | undefined;

export function repoUrl(rel: string): URL {
  if (!root) {
    let dir = new URL('./', import.meta.url);
    while (!existsSync(new URL('pnpm-workspace.yaml', dir))) {
      const up = new URL('../', dir);
      if (up.href === dir.href) throw new Error('bench/deps: no pnpm-workspace.yaml above this file');
      dir = up;
    }
    root = dir;
  }
  return new URL(rel, root);
}

/** `require` as the workspace package at `pkgDir` (say, packages/db) would resolve it. */
export const requireFrom = (pkgDir: string): NodeJS.Require => createRequire(repoUrl(`${pkgDir}/package.json`));
