import { parseArgs } from 'node:util';
import { databaseEnv, parseEnv, redisEnv } from '@rehost/config';
import { UsageError } from '../backfill/options.js';
import type { AnalyzeOptions } from './command.js';

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name}: expected a positive whole number, got ${JSON.stringify(text)}`);
  return n;
}

export function parseAnalyzeArgs(argv: string[], env: NodeJS.ProcessEnv): AnalyzeOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        batch: { type: 'string' },
        'max-waiting': { type: 'string' },
        'no-wait': { type: 'boolean' },
        'progress-every': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const config = parseEnv(databaseEnv.extend(redisEnv.shape), env);
  return {
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    queuePrefix: config.QUEUE_PREFIX,
    batch: positiveInt('--batch', values.batch as string | undefined, 500),
    maxWaiting: positiveInt('--max-waiting', values['max-waiting'] as string | undefined, 2000),
    wait: !values['no-wait'],
    progressEveryMs: positiveInt('--progress-every', values['progress-every'] as string | undefined, 10) * 1000,
  };
}
