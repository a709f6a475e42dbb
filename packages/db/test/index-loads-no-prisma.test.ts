/**
 * The API and the worker import this package's index; it must not load the Prisma runtime (about
 * 11 MB of RSS at import and 18 MB more at the first query). Prisma keeps the schema, the
 * migrations and the row types (`import type` only).
 *
 * A fresh Node process imports the index (the sources, through tsx) under a module `load` hook
 * that lists every module actually loaded; nothing from `@prisma/*` or from the generated client
 * may be among them. The generated enums (plain objects, no import) are fine.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const run = promisify(execFile);
const dbDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Imports the module at argv[1] and prints the URL of every module loaded meanwhile, as JSON. */
const PROBE = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
await import(process.argv[1]);
process.stdout.write(JSON.stringify(loaded));
`;

async function modulesLoadedBy(entry: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE, pathToFileURL(entry).href], {
    cwd: dbDir,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(stdout) as string[];
}

describe('@rehost/db index', () => {
  it('loads no Prisma runtime (nothing under @prisma/, no generated client)', async () => {
    const loaded = await modulesLoadedBy(path.join(dbDir, 'src/index.ts'));
    // The hook saw the index's own graph (else an empty list would pass for the wrong reason).
    expect(loaded).toEqual(expect.arrayContaining([expect.stringMatching(/\/src\/index\.ts$/), expect.stringMatching(/\/src\/sql\.ts$/)]));
    expect(loaded.some((url) => url.includes('/node_modules/pg/'))).toBe(true);

    const prisma = loaded.filter((url) => /prisma/i.test(url) && !url.endsWith('/src/generated/prisma/enums.ts'));
    expect(prisma).toEqual([]);
  });
});
