import { AppError } from '@rehost/jobs';

// Bot API file URLs carry the bot token in the path (`/file/bot<id>:<secret>/…`).
const BOT_TOKEN = /(?:bot)?\d{3,}(?::|%3a)[A-Za-z0-9_-]{20,}/gi;
const MAX_PATH_CHARS = 200;

/**
 * `scheme://host[:port]/path` for messages: no credentials, no query string and no fragment
 * (they may carry secrets), bot tokens masked, long paths cut.
 */
export function redactUrl(url: URL | string): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '<invalid URL>';
  }
  let path = u.pathname.replace(BOT_TOKEN, 'bot[REDACTED]');
  if (path.length > MAX_PATH_CHARS) path = `${path.slice(0, MAX_PATH_CHARS)}…`;
  return `${u.protocol}//${u.host}${path}`;
}

/** Each message is written once, here. Every error names the URL through {@link redactUrl}. */
export const fetchErrors = {
  notAllowed: (url: URL | string, reason: string) =>
    new AppError('url_not_allowed', `${redactUrl(url)} is not allowed: ${reason}`, { permanent: true }),
  invalidUrl: () => new AppError('url_not_allowed', 'not a valid absolute URL', { permanent: true }),
  declaredTooLarge: (url: URL, declared: number, max: number) =>
    new AppError('too_large', `${redactUrl(url)} declares ${declared} bytes, more than the limit of ${max} bytes`, {
      permanent: true,
    }),
  tooLarge: (url: URL, max: number) =>
    new AppError('too_large', `${redactUrl(url)} sent more than the limit of ${max} bytes`, { permanent: true }),
  connectTimeout: (url: URL, ms: number) =>
    new AppError('source_unavailable', `could not connect to ${redactUrl(url)} within ${ms} ms`),
  idleTimeout: (url: URL, ms: number) =>
    new AppError('source_unavailable', `${redactUrl(url)} sent nothing for ${ms} ms`),
  totalTimeout: (url: URL, ms: number) =>
    new AppError('source_unavailable', `${redactUrl(url)} did not finish within ${ms} ms`),
  network: (url: URL, cause: unknown) =>
    new AppError('source_unavailable', `request to ${redactUrl(url)} failed (${errorCode(cause)})`, { cause }),
  dns: (url: URL | string, cause: unknown) =>
    new AppError('source_unavailable', `could not resolve the host of ${redactUrl(url)} (${errorCode(cause)})`, {
      cause,
    }),
  truncated: (url: URL) =>
    new AppError('source_unavailable', `${redactUrl(url)} closed the connection before the body was complete`),
  badRedirect: (url: URL) =>
    new AppError('source_unavailable', `${redactUrl(url)} redirected to an invalid location`, { permanent: true }),
  status: (url: URL, status: number, retryAfterSeconds?: number) =>
    new AppError('source_unavailable', `${redactUrl(url)} answered HTTP ${status}`, {
      permanent: !isRetryableStatus(status),
      retryAfterSeconds,
    }),
};

/**
 * 5xx, 408 (timeout), 425 (too early) and 429 (rate limited) may pass; any other status,
 * 404/410/403/401 first among them, will not change by asking again.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : 'unknown error';
}
