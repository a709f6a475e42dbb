/**
 * How Bot API answers become AppErrors. Every message here is written by us from a status and
 * Telegram's `description` (already token-redacted by the caller): raw got errors carry the request
 * URL, which holds the token, so they are never attached as `cause`.
 */
import { AppError } from '@rehost/jobs';

export interface ApiFailure {
  status: number;
  description: string | undefined;
  retryAfterSeconds: number | undefined;
}

export const telegramErrors = {
  fileTooBig: () =>
    new AppError(
      'telegram_file_too_big',
      'the file is larger than the Telegram Bot API lets bots download (20 MB on the cloud Bot API; a local Bot API server serves larger files)',
      { permanent: true },
    ),
  invalidFile: (description: string) =>
    new AppError('telegram_invalid_file', `Telegram does not accept this file_id (${description})`, { permanent: true }),
  /**
   * "wrong file_id or the file is temporarily unavailable": Telegram says this both for ids that
   * will never work and for files its servers cannot reach right now, so the job retries it a few
   * times (rehost.processor.ts) before it counts as permanent.
   */
  temporarilyUnavailable: (description: string) =>
    new AppError('telegram_invalid_file', `Telegram does not accept this file_id (${description})`),
  tokenRejected: (bot: string, what: string) =>
    new AppError('bot_not_configured', `Telegram rejected the token of bot "${bot}" (${what}); check its configuration`, {
      permanent: true,
    }),
  notConfigured: (bot: string) =>
    new AppError('bot_not_configured', `no Telegram bot named "${bot}" is configured`, { permanent: true }),
  rateLimited: (what: string, seconds: number) =>
    new AppError('rate_limited', `Telegram rate-limited ${what}; retry after ${seconds} s`, { retryAfterSeconds: seconds }),
  unavailable: (message: string) => new AppError('telegram_unavailable', message),
};

const statusText = (f: ApiFailure) => (f.description ? `${f.status} ${f.description}` : `HTTP ${f.status}`);

/** `what` names the call in messages: 'getFile', 'the file download'. */
export function classifyFailure(what: string, bot: string, f: ApiFailure): AppError {
  if (f.status === 429) return telegramErrors.rateLimited(what, f.retryAfterSeconds ?? 1);
  if (f.status === 400) {
    if (/file is too big/i.test(f.description ?? '')) return telegramErrors.fileTooBig();
    if (/temporarily unavailable/i.test(f.description ?? '')) return telegramErrors.temporarilyUnavailable(f.description!);
    return telegramErrors.invalidFile(f.description ?? 'Bad Request');
  }
  // 401 is a wrong token; 404 on a method is a malformed one (the method URL does not exist).
  if (f.status === 401 || f.status === 403 || f.status === 404) return telegramErrors.tokenRejected(bot, statusText(f));
  return telegramErrors.unavailable(`Telegram Bot API ${what} failed: ${statusText(f)}`);
}

/** A network failure, named by its code only: got's messages and properties may contain the URL. */
export function networkFailure(what: string, err: unknown): AppError {
  return telegramErrors.unavailable(`Telegram Bot API ${what} failed: ${networkCode(err)}`);
}

export function networkCode(err: unknown): string {
  if (err === null || typeof err !== 'object') return 'unknown error';
  const { code, name, event } = err as { code?: unknown; name?: unknown; event?: unknown };
  if (name === 'TimeoutError' && typeof event === 'string' && /^[a-z]+$/i.test(event)) return `timeout (${event})`;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  if (typeof name === 'string' && /^[A-Za-z]+$/.test(name)) return name;
  return 'unknown error';
}
