/**
 * Run: TELEGRAM_BOT_TOKEN=… REHOST_API_URL=http://127.0.0.1:3000 REHOST_API_TOKEN=… pnpm --filter @rehost/example-telegram-bot start
 * The rehost server must know this bot (TELEGRAM_BOT_TOKEN there, or a name in TELEGRAM_BOTS
 * given here as REHOST_BOT_NAME): file ids are only valid for the bot that received them.
 */
import { RehostClient } from '@rehost/client';
import { Bot } from 'grammy';
import { installRehostHandler } from './rehost-handler.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`Invalid environment: ${name} is required\n`);
    process.exit(1);
  }
  return value;
}

const bot = new Bot(required('TELEGRAM_BOT_TOKEN'), {
  ...(process.env.TELEGRAM_API_BASE_URL ? { client: { apiRoot: process.env.TELEGRAM_API_BASE_URL } } : {}),
});
const client = new RehostClient({ baseUrl: required('REHOST_API_URL'), token: required('REHOST_API_TOKEN') });
installRehostHandler(bot, client, process.env.REHOST_BOT_NAME ? { bot: process.env.REHOST_BOT_NAME } : {});
bot.catch((err) => console.error('update failed', err.error));

process.once('SIGINT', () => void bot.stop());
process.once('SIGTERM', () => void bot.stop());
await bot.start({ onStart: (me) => console.log(`@${me.username} is listening`) });
