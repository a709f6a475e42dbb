/**
 * The configured bots, by name. Jobs carry a bot's name (`default`, or one of the named bots),
 * never its token; workers look the client up here.
 */

import { type BotApiOptions, TelegramBotApi } from './bot-api.js';
import { telegramErrors } from './bot-api-errors.js';

export type BotClientOptions = Omit<BotApiOptions, 'baseUrl' | 'token' | 'name'>;

export const DEFAULT_BOT = 'default';

export class BotRegistry {
  readonly #bots: ReadonlyMap<string, TelegramBotApi>;

  private constructor(bots: Map<string, TelegramBotApi>) {
    this.#bots = bots;
  }

  /**
   * @param defaultToken `TELEGRAM_BOT_TOKEN`; registered as `default` when set.
   * @param named further bots, name → token, or `token@origin` for a bot served by another Bot
   *   API server (a local one: `123:AA…@http://telegram-bot-api:8081`); empty tokens are skipped.
   * @param base `TELEGRAM_API_BASE_URL`, for the default bot and named bots without `@origin`.
   */
  static fromConfig(
    defaultToken: string | undefined,
    named: Record<string, string>,
    base: string,
    opts: BotClientOptions = {},
  ): BotRegistry {
    const entries = new Map<string, { token: string; baseUrl: string }>();
    if (defaultToken) entries.set(DEFAULT_BOT, { token: defaultToken, baseUrl: base });
    for (const [name, value] of Object.entries(named)) {
      if (!value) continue;
      if (entries.has(name)) throw new Error(`Telegram bot "${name}" is configured twice`);
      entries.set(name, splitBotEntry(value, base));
    }
    const bots = new Map<string, TelegramBotApi>();
    for (const [name, { token, baseUrl }] of entries) bots.set(name, new TelegramBotApi({ ...opts, baseUrl, token, name }));
    return new BotRegistry(bots);
  }

  /** @throws AppError `bot_not_configured` (permanent) for an unknown name. */
  get(name: string): TelegramBotApi {
    const bot = this.#bots.get(name);
    if (!bot) throw telegramErrors.notConfigured(name);
    return bot;
  }

  names(): string[] {
    return [...this.#bots.keys()].sort();
  }

  toJSON(): { bots: string[] } {
    return { bots: this.names() };
  }
}

/** `token` or `token@origin` (tokens never contain `@`). */
export function splitBotEntry(value: string, base: string): { token: string; baseUrl: string } {
  const at = value.indexOf('@');
  return at < 0 ? { token: value, baseUrl: base } : { token: value.slice(0, at), baseUrl: value.slice(at + 1) };
}
