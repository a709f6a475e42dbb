import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { z } from 'zod';

const common = { ref: z.string().min(1).max(1000), ownerId: z.string().max(128).optional() };
const telegramLine = z.object({
  ...common,
  fileId: z.string().min(1).max(512),
  fileUniqueId: z.string().min(1).max(128).optional(),
  bot: z.string().min(1).max(64).optional(),
});
const urlLine = z.object({ ...common, url: z.string().url().max(2048) });

export type BackfillItem = ({ kind: 'telegram' } & z.infer<typeof telegramLine>) | ({ kind: 'url' } & z.infer<typeof urlLine>);

export type ParsedLine = { item: BackfillItem } | { invalid: string; ref?: string };

/** One input line: a Telegram file or a URL, each with the caller's `ref`. */
export function parseLine(text: string): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  const ref = typeof (json as { ref?: unknown })?.ref === 'string' ? (json as { ref: string }).ref : undefined;
  const withRef = (invalid: string): ParsedLine => (ref ? { invalid, ref } : { invalid });
  if (json === null || typeof json !== 'object') return withRef('not a JSON object');
  const hasFile = 'fileId' in json;
  const hasUrl = 'url' in json;
  if (hasFile === hasUrl) return withRef('expected exactly one of "fileId" or "url"');
  const parsed = hasFile ? telegramLine.safeParse(json) : urlLine.safeParse(json);
  if (!parsed.success) return withRef(z.prettifyError(parsed.error).replace(/\s+/g, ' '));
  return { item: hasFile ? { kind: 'telegram', ...(parsed.data as z.infer<typeof telegramLine>) } : { kind: 'url', ...(parsed.data as z.infer<typeof urlLine>) } };
}

/**
 * The idempotency key of a ref: stable across runs, so a rerun (or a retried request) names
 * the asset the first one created. Hashed so any ref fits the API's 200-character limit.
 */
export function idempotencyKeyFor(prefix: string, ref: string): string {
  return `${prefix}:${createHash('sha256').update(ref).digest('hex')}`;
}

export function openInput(file: string | undefined): Readable {
  return file ? createReadStream(file) : process.stdin;
}

/**
 * Lines with their 0-based index (blank ones included, so positions stay stable). Aborting
 * `signal` ends the iteration even while it waits for input (a quiet stdin).
 */
export async function* readLines(source: Readable, signal?: AbortSignal): AsyncGenerator<{ index: number; text: string }> {
  const rl = createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY, ...(signal ? { signal } : {}) });
  let index = 0;
  try {
    for await (const text of rl) yield { index: index++, text };
  } finally {
    rl.close();
  }
}

/** Lines in a file, for the progress bar's total (standard input has none). */
export async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const _ of readLines(createReadStream(file))) n++;
  return n;
}
