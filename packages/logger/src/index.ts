/**
 * pino with one redaction list for every process. Messages are stable strings;
 * details go in the object. Never log a URL that carries a token or a signature:
 * `redactUrl` strips both, and the paths below catch the usual suspects.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'botToken',
  'password',
  'secret',
  'secretAccessKey',
  'accessKeyId',
  'credentials',
  'uploadUrl',
  'upload.url',
  '*.token',
  '*.botToken',
  '*.password',
  '*.secret',
  '*.secretAccessKey',
  '*.authorization',
];

// Telegram bot tokens: <digits>:<35 url-safe chars>; also `bot<token>` in URL paths.
const BOT_TOKEN = /\d{5,}:[A-Za-z0-9_-]{30,}/g;
// SigV4 query signatures and credentials.
const SIGNED_QUERY = /([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=)[^&\s"']+/gi;

/** Removes bot tokens and pre-signed query parameters from any text. */
export function redactSecrets(text: string): string {
  return text.replace(BOT_TOKEN, '[REDACTED]').replace(SIGNED_QUERY, '$1[REDACTED]');
}

export interface CreateLoggerOptions {
  name: string;
  level?: string;
  pretty?: boolean;
  /** Where to write (tests capture logs through this). */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    name: opts.name,
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    // Last line of defence: every string value and message passes through redactSecrets.
    hooks: {
      logMethod(args, method) {
        const cleaned = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a));
        return method.apply(this, cleaned as Parameters<typeof method>);
      },
    },
    formatters: {
      log(object) {
        return scrub(object) as Record<string, unknown>;
      },
    },
    serializers: {
      err: (err: unknown) => scrub(pino.stdSerializers.err(err as Error)),
    },
  };
  if (opts.destination) return pino(options, opts.destination);
  if (opts.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
}
