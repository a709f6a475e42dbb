import path from 'node:path';
import { parseArgs } from 'node:util';

export const BACKFILL_USAGE = `usage: pnpm rehost backfill [--input file.jsonl] [options]

Reads JSONL lines ({"fileId": "...", "ref": "..."} or {"url": "...", "ref": "..."}; optional
fileUniqueId, bot, ownerId) from --input or standard input, enqueues each at the given rate with
an idempotency key derived from its ref (a rerun never makes a second asset), then writes one
report line per ref: {"ref", "assetId", "status", "url"?, "error"?}. Ctrl-C finishes the requests
in flight, saves the position and exits 130; the same command resumes.

options:
  --input <file>          JSONL input (default: standard input)
  --rate <n>[/s|/m]       enqueues per second or minute (default: 20/s)
  --state <file>          position and enqueued assets (default: .backfill-state.json)
  --report <file>         results, one JSON line per ref (default: backfill-report.jsonl)
  --api-url <url>         rehost API origin (or REHOST_API_URL)
  --token <token>         API bearer token (or REHOST_API_TOKEN)
  --concurrency <n>       enqueue requests in flight (default: 8)
  --wait-timeout <s>      longest wait for one asset to finish (default: 600)
  --key-prefix <text>     idempotency key prefix; change it to store the same refs again (default: backfill)
  --progress-every <s>    seconds between progress lines when stderr is not a terminal (default: 10)
  -h, --help`;

export class UsageError extends Error {}

export interface BackfillOptions {
  /** Absolute path, or undefined for standard input. */
  input: string | undefined;
  ratePerSecond: number;
  statePath: string;
  reportPath: string;
  apiUrl: string;
  token: string;
  concurrency: number;
  waitTimeoutMs: number;
  keyPrefix: string;
  progressEveryMs: number;
}

/** `20/s`, `600/m`, `1200/min`, `5` (per second). */
export function parseRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|second|m|min|minute|h|hour))?\s*$/i.exec(text);
  if (!m) throw new UsageError(`--rate: expected like 20/s or 600/m, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const perSecond = unit.startsWith('h') ? n / 3600 : unit.startsWith('m') ? n / 60 : n;
  if (!(perSecond > 0)) throw new UsageError('--rate must be more than 0');
  return perSecond;
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name}: expected a positive whole number, got ${JSON.stringify(text)}`);
  return n;
}

const parseOptions = (argv: string[]) =>
  parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      input: { type: 'string' },
      rate: { type: 'string' },
      state: { type: 'string' },
      report: { type: 'string' },
      'api-url': { type: 'string' },
      token: { type: 'string' },
      concurrency: { type: 'string' },
      'wait-timeout': { type: 'string' },
      'key-prefix': { type: 'string' },
      'progress-every': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });

export function parseBackfillArgs(argv: string[], env: NodeJS.ProcessEnv): BackfillOptions | 'help' {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    ({ values } = parseOptions(argv));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const apiUrl = values['api-url'] ?? env.REHOST_API_URL;
  const token = values.token ?? env.REHOST_API_TOKEN;
  if (!apiUrl) throw new UsageError('--api-url (or REHOST_API_URL) is required');
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError('--api-url must be an http(s) URL');
  }
  if (!token) throw new UsageError('--token (or REHOST_API_TOKEN) is required');
  const input = values.input === undefined || values.input === '-' ? undefined : path.resolve(values.input);
  return {
    input,
    ratePerSecond: parseRate(values.rate ?? '20/s'),
    statePath: path.resolve(values.state ?? '.backfill-state.json'),
    reportPath: path.resolve(values.report ?? 'backfill-report.jsonl'),
    apiUrl,
    token,
    concurrency: positiveInt('--concurrency', values.concurrency, 8),
    waitTimeoutMs: positiveInt('--wait-timeout', values['wait-timeout'], 600) * 1000,
    keyPrefix: values['key-prefix'] ?? 'backfill',
    progressEveryMs: positiveInt('--progress-every', values['progress-every'], 10) * 1000,
  };
}
