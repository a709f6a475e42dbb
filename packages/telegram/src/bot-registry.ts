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
   * @param named further bots, name → token; empty tokens are skipped.
   * @param base `TELEGRAM_API_BASE_URL`.
   */
  static fromConfig(
    defaultToken: string | undefined,
    named: Record<string, string>,
    base: string,
    opts: BotClientOptions = {},
  ): BotRegistry {
    const tokens = new Map<string, string>();
    if (defaultToken) tokens.set(DEFAULT_BOT, defaultToken);
    for (const [name, token] of Object.entries(named)) {
      if (!token) continue;
      if (tokens.has(name)) throw new Error(`Telegram bot "${name}" is configured twice`);
      tokens.set(name, token);
    }
    const bots = new Map<string, TelegramBotApi>();
    for (const [name, token] of tokens) bots.set(name, new TelegramBotApi({ ...opts, baseUrl: base, token, name }));
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
