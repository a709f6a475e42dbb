/**
 * Bot tokens are `<bot id>:<secret>` (BotFather issues 35-character secrets) and appear in every
 * Bot API URL as `/bot<token>/…`. Anything that may reach a log, an error or a job record goes
 * through here first.
 */
const TOKEN_PATTERN = /(?:bot)?\d{3,}(?::|%3a)[A-Za-z0-9_-]{20,}/gi;

/** Replaces `bot<digits>:<secret>` and bare `<digits>:<secret>` tokens with `bot[REDACTED]`. */
export function redactToken(text: string): string {
  return text.replace(TOKEN_PATTERN, 'bot[REDACTED]');
}

/** Like {@link redactToken}, and also removes `token` verbatim, whatever its shape (local servers, tests). */
export function redactKnownToken(text: string, token: string): string {
  const redacted = redactToken(text);
  if (token === '') return redacted;
  return redacted
    .split(`bot${token}`)
    .join('bot[REDACTED]')
    .split(token)
    .join('bot[REDACTED]')
    .split(encodeURIComponent(token))
    .join('bot[REDACTED]');
}
