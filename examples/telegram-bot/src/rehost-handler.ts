import { AssetFailedError, type RehostClient, WaitTimeoutError } from '@rehost/client';
import type { Bot, Context } from 'grammy';
import type { Message } from 'grammy/types';

/** A file Telegram holds for the bot: what the rehost API needs to fetch it. */
export interface TelegramFileRef {
  fileId: string;
  fileUniqueId: string;
}

/**
 * The file to store for a message: the largest PhotoSize of a photo (Telegram sends several,
 * recompressed), or an image document, which keeps the original bytes. Undefined otherwise.
 */
export function pickImage(message: Message): TelegramFileRef | undefined {
  if (message.photo && message.photo.length > 0) {
    const largest = message.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    return { fileId: largest.file_id, fileUniqueId: largest.file_unique_id };
  }
  const doc = message.document;
  if (doc?.mime_type?.startsWith('image/')) return { fileId: doc.file_id, fileUniqueId: doc.file_unique_id };
  return undefined;
}

export interface RehostHandlerOptions {
  /** Name of this bot in the server's TELEGRAM_BOTS (file ids only work for the bot that received them). @defaultValue "default" */
  bot?: string;
  /** How long one message waits for its asset. @defaultValue 60000 */
  timeoutMs?: number;
}

/** What the person reads when a file could not be stored, by the asset's error code. */
function failureText(code: string): string {
  switch (code) {
    case 'telegram_file_too_big':
      return 'That file is too big for me to fetch (Telegram lets bots download up to 20 MB).';
    case 'not_an_image':
    case 'unsupported_type':
    case 'truncated_image':
      return 'That does not look like an image I can store (JPEG, PNG, WebP, GIF or AVIF).';
    case 'too_many_pixels':
      return 'That image has too many pixels for me.';
    default:
      return `Sorry, I could not store that image (${code}).`;
  }
}

/**
 * Answers every photo or image document with its permanent URL. The idempotency key is the
 * chat and message id, so an update Telegram delivers twice stores one asset.
 */
export function installRehostHandler(bot: Bot, client: RehostClient, opts: RehostHandlerOptions = {}): void {
  bot.on(['message:photo', 'message:document'], async (ctx: Context) => {
    const message = ctx.message!;
    const reply = (text: string) => ctx.reply(text, { reply_parameters: { message_id: message.message_id } });
    const file = pickImage(message);
    if (!file) {
      await reply('Send me an image: as a photo, or as a file to keep the original.');
      return;
    }
    try {
      const asset = await client.rehostTelegramFile(file.fileId, {
        fileUniqueId: file.fileUniqueId,
        ...(opts.bot ? { bot: opts.bot } : {}),
        ...(ctx.from ? { ownerId: `tg:${ctx.from.id}` } : {}),
        idempotencyKey: `tg:${message.chat.id}:${message.message_id}`,
        wait: true,
        timeoutMs: opts.timeoutMs ?? 60_000,
      });
      await reply(asset.url!);
    } catch (err) {
      if (err instanceof AssetFailedError) await reply(failureText(err.code));
      else if (err instanceof WaitTimeoutError) await reply('Still working on that one; try again in a minute.');
      else throw err;
    }
  });
}
