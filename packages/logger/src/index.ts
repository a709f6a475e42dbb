/**
 * pino with one redaction list for every process. Messages are stable strings;
 * details go in the object. Never log a URL that carries a token or a signature:
 * `redactSecrets` strips those from every string, and values under secret-sounding
 * keys are replaced whatever their depth.
 */
import { SECRET_ENV_NAMES } from '@rehost/config';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const CENSOR = '[REDACTED]';

/** pino's own redaction (fast paths; `scrub` below is the deep net behind it). */
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
  '*.upload.url',
];

/**
 * Keys whose values are never logged, at any depth, compared without case, `_` or `-`
 * (so `S3_SECRET_ACCESS_KEY`, `secretAccessKey` and `secret-access-key` all match).
 * Includes the secret environment variables (a logged config object shows none of them).
 */
const SECRET_KEYS = new Set(
  [
    'authorization',
    'proxyAuthorization',
    'cookie',
    'setCookie',
    'password',
    'passwd',
    'secret',
    'token',
    'tokens',
    'botToken',
    'accessToken',
    'secretAccessKey',
    'accessKeyId',
    'sessionToken',
    'credentials',
    'signature',
    'uploadUrl',
    ...SECRET_ENV_NAMES,
  ].map(normalizeKey),
);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

// Telegram bot tokens: <digits>:<35 url-safe chars>; also `bot<token>` in URL paths.
const BOT_TOKEN = /\d{5,}:[A-Za-z0-9_-]{30,}/g;
// SigV4 query signatures and credentials (also URL-encoded inside another URL).
const SIGNED_QUERY =
  /((?:[?&]|%3F|%26)(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)(?:=|%3D))[^&\s"'\\]+/gi;
// `Authorization: Bearer …` / `Basic …` echoed in a message.
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
// (The character classes stop at quotes and backslashes: the patterns also run on finished JSON lines.)
// Passwords in connection strings: scheme://user:password@host.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"\\]*:)[^\s/?#@"\\]+@/gi;

/** Removes bot tokens, pre-signed query parameters, auth header values and URL passwords from any text. */
export function redactSecrets(text: string): string {
  return text
    .replace(BOT_TOKEN, CENSOR)
    .replace(SIGNED_QUERY, `$1${CENSOR}`)
    .replace(AUTH_SCHEME, `$1 ${CENSOR}`)
    .replace(URL_PASSWORD, `$1${CENSOR}@`);
}

export interface CreateLoggerOptions {
  name: string;
  level?: string;
  /** Human-readable lines (development); JSON otherwise. */
  pretty?: boolean;
  /** Where to write (tests capture logs through this). */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    name: opts.name,
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    hooks: {
      // Last line of defence: the finished JSON line, whatever produced it (serializers,
      // bindings, error stacks), passes through redactSecrets before it is written.
      streamWrite: redactSecrets,
    },
    formatters: {
      // Child bindings (`log.child({ ... })`) do not pass through `log`: scrub them too.
      bindings(bindings) {
        return scrub(bindings) as Record<string, unknown>;
      },
      // Runs before the serializers.
      log(object) {
        return scrub(object) as Record<string, unknown>;
      },
    },
    serializers: {
      err: (err: unknown) => (err instanceof Error ? scrub(err) : err),
    },
  };
  if (opts.destination) return pino(options, opts.destination);
  if (opts.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}

/**
 * Key-based redaction of plain data at any depth, and errors serialized (pino would write
 * an Error under any key but `err` as `{}`). Other class instances (Fastify's request and
 * reply, clients with a `toJSON`) are left to their serializers; the line-level
 * `redactSecrets` still covers what they produce.
 */
function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return scrub({ ...pino.stdSerializers.err(value) }, depth + 1);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.has(normalizeKey(k)) && v !== undefined && v !== null ? CENSOR : scrub(v, depth + 1);
  }
  return out;
}
