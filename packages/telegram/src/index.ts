export { type BotApiOptions, TelegramBotApi, type TelegramFile } from './bot-api.js';
export { type BotClientOptions, BotRegistry, DEFAULT_BOT } from './bot-registry.js';
export { redactToken } from './redact.js';
export { DEFAULT_LOCAL_SERVER_DIR, type LocalFilesOptions } from './local-files.js';
