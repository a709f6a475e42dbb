import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JsonLinesWriter, loadState, readJsonLines, saveState } from './state.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'backfill-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('state file', () => {
  it('round-trips and leaves no temporary file behind', async () => {
    const file = path.join(dir, 's.json');
    expect(await loadState(file)).toBeUndefined();
    await saveState(file, { version: 1, input: '/in', position: 7, updatedAt: 'now' });
    await saveState(file, { version: 1, input: '/in', position: 9, updatedAt: 'later' });
    expect(await loadState(file)).toEqual({ version: 1, input: '/in', position: 9, updatedAt: 'later' });
    expect(readdirSync(dir)).toEqual(['s.json']);
  });

  it('refuses a file that is not a state file', async () => {
    const file = path.join(dir, 's.json');
    writeFileSync(file, '{"version":1,"position":-1}');
    await expect(loadState(file)).rejects.toThrow('not a backfill state file');
  });
});

describe('JSON lines', () => {
  it('skip a torn last line, and appending after one starts on a fresh line', async () => {
    const file = path.join(dir, 'j.jsonl');
    writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":');
    expect(await readJsonLines(file)).toEqual([{ a: 1 }, { a: 2 }]);
    const w = await JsonLinesWriter.open(file);
    await w.write({ a: 3 });
    await w.close();
    expect(await readJsonLines(file)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(readFileSync(file, 'utf8').endsWith('{"a":3}\n')).toBe(true);
  });
});
