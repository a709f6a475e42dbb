import { createWriteStream, type WriteStream } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';

/**
 * A backfill's memory between runs, in two files:
 * - `<state>` (JSON, replaced atomically: write a temp file, fsync, rename): the input it
 *   belongs to and `position`, the number of input lines fully handled;
 * - `<state>.journal.jsonl` (append-only): one line per handled input line, with the asset
 *   the API answered (or why the line was refused), so results can be collected later.
 * Journal lines are written before the position moves past them; a line handled but not yet
 * counted in `position` is simply sent again, and its idempotency key returns the same asset.
 */
export interface BackfillState {
  version: 1;
  input: string;
  position: number;
  updatedAt: string;
}

export type JournalEntry =
  | { line: number; ref: string; assetId: string }
  | { line: number; ref: string | null; error: { code: string; message: string } };

export async function loadState(statePath: string): Promise<BackfillState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const state = JSON.parse(text) as BackfillState;
  if (state.version !== 1 || !Number.isInteger(state.position) || state.position < 0) {
    throw new Error(`${statePath} is not a backfill state file`);
  }
  return state;
}

/** Atomic: readers (and a crash) see the old file or the new one, never half of one. */
export async function saveState(statePath: string, state: BackfillState): Promise<void> {
  const tmp = `${statePath}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, statePath);
}

export const journalPathFor = (statePath: string): string => `${statePath}.journal.jsonl`;

/** Reads a JSONL file, skipping a torn last line (the process died mid-write). */
export async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // Only the last line can be torn; anything else unreadable is skipped the same way.
    }
  }
  return out;
}

/** Appends JSON lines; a torn last line of an earlier run is cut off first by starting on a new line. */
export class JsonLinesWriter {
  private readonly stream: WriteStream;

  private constructor(stream: WriteStream) {
    this.stream = stream;
  }

  static async open(file: string): Promise<JsonLinesWriter> {
    let needsNewline = false;
    try {
      const text = await readFile(file, 'utf8');
      needsNewline = text.length > 0 && !text.endsWith('\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const stream = createWriteStream(file, { flags: 'a' });
    if (needsNewline) stream.write('\n');
    return new JsonLinesWriter(stream);
  }

  write(value: unknown): Promise<void> {
    return new Promise((resolve, reject) => this.stream.write(`${JSON.stringify(value)}\n`, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
