/**
 * rehost operator commands: `pnpm rehost <command> [options]` from the repository root.
 * Exit codes: 0 done, 1 done with failures, 2 usage error, 3 incomplete (rerun), 130 interrupted.
 */
import { ANALYZE_USAGE, runAnalyzeBackfill } from './analyze/command.js';
import { parseAnalyzeArgs } from './analyze/options.js';
import { runBackfill } from './backfill/command.js';
import { BACKFILL_USAGE, parseBackfillArgs, UsageError } from './backfill/options.js';

const USAGE = `usage: pnpm rehost <command> [options]

commands:
  backfill   enqueue a JSONL file of Telegram file ids or URLs, resumably, and report the results
  analyze    compute the image facts (placeholder, colour, pHash) of assets stored without them

${BACKFILL_USAGE}

${ANALYZE_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === 'analyze') return analyze(rest);
  if (command !== 'backfill') {
    process.stderr.write(`rehost: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const opts = parseBackfillArgs(rest, process.env);
    if (opts === 'help') {
      process.stdout.write(`${BACKFILL_USAGE}\n`);
      return 0;
    }
    return await runBackfill(opts);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`rehost backfill: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

async function analyze(argv: string[]): Promise<number> {
  try {
    const opts = parseAnalyzeArgs(argv, process.env);
    if (opts === 'help') {
      process.stdout.write(`${ANALYZE_USAGE}\n`);
      return 0;
    }
    const interrupt = new AbortController();
    process.once('SIGINT', () => interrupt.abort());
    return await runAnalyzeBackfill({ ...opts, signal: interrupt.signal });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`rehost analyze: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rehost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
