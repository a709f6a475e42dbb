import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RehostClient } from '@rehost/client';
import { type Stack, startStack } from '@rehost/e2e';
import { type BotApiDouble, makePng, startBotApiDouble } from '@rehost/testing';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { installRehostHandler, pickImage } from './rehost-handler.js';

let double: BotApiDouble;
let stack: Stack;
let bot: Bot;

const large = makePng(320, 240);
const small = makePng(90, 68);

beforeAll(async () => {
  double = await startBotApiDouble();
  double.addFile({ fileId: 'photo-s', fileUniqueId: 'uniq-s', bytes: small });
  double.addFile({ fileId: 'photo-l', fileUniqueId: 'uniq-l', bytes: large });
  double.addFile({ fileId: 'doc-orig', fileUniqueId: 'uniq-doc', bytes: makePng(1000, 10) });
  double.addFile({ fileId: 'photo-twice', fileUniqueId: 'uniq-twice', bytes: makePng(50, 50) });
  stack = await startStack({ env: { TELEGRAM_BOT_TOKEN: double.token, TELEGRAM_API_BASE_URL: double.baseUrl } });
  bot = new Bot(double.token, { client: { apiRoot: double.baseUrl } });
  installRehostHandler(bot, new RehostClient({ baseUrl: stack.baseUrl, token: stack.token }), { timeoutMs: 30_000 });
  await bot.init(); // getMe, answered by the double
});
afterAll(async () => {
  await stack?.close();
  await double?.close();
});

let nextId = 100;
function update(message: Record<string, unknown>): Update {
  const id = nextId++;
  return {
    update_id: id,
    message: { message_id: id, date: 1_767_225_600, chat: { id: 4242, type: 'private', first_name: 'Ann' }, from: { id: 4242, is_bot: false, first_name: 'Ann' }, ...message },
  } as Update;
}

const photoSizes = [
  { file_id: 'photo-s', file_unique_id: 'uniq-s', width: 90, height: 68, file_size: small.length },
  { file_id: 'photo-l', file_unique_id: 'uniq-l', width: 320, height: 240, file_size: large.length },
];

describe('example Telegram bot', () => {
  it('stores the largest PhotoSize and replies with its permanent URL', async () => {
    const u = update({ photo: photoSizes });
    await bot.handleUpdate(u);

    const sent = double.messages.at(-1)!;
    expect(sent).toMatchObject({ chatId: 4242, replyToMessageId: u.message!.message_id });
    expect(sent.text).toMatch(new RegExp(`^${stack.services.env.PUBLIC_BASE_URL}/i/[0-9a-f]{32}\\.png$`));
    // The largest size was fetched, not the thumbnail; and the URL serves its bytes.
    expect(double.stats.downloadsByFileId.get('photo-l')).toBe(1);
    expect(double.stats.downloadsByFileId.get('photo-s')).toBeUndefined();
    const res = await fetch(sent.text);
    expect(Buffer.from(await res.arrayBuffer()).equals(large)).toBe(true);
  });

  it('keeps the original of an image sent as a document', async () => {
    await bot.handleUpdate(update({ document: { file_id: 'doc-orig', file_unique_id: 'uniq-doc', file_name: 'scan.png', mime_type: 'image/png' } }));
    const url = double.messages.at(-1)!.text;
    // The newest asset of this chat's owner is the one the bot replied with.
    const [asset] = (await stack.call('/v1/assets?ownerId=tg:4242&limit=1')).body.items;
    expect(asset).toMatchObject({ status: 'ready', url, width: 1000, height: 10, ownerId: 'tg:4242' });
  });

  it('says why when the file cannot be stored, and ignores non-image documents', async () => {
    await bot.handleUpdate(update({ photo: [{ file_id: 'gone', file_unique_id: 'uniq-gone', width: 10, height: 10 }] }));
    expect(double.messages.at(-1)!.text).toBe('Sorry, I could not store that image (telegram_invalid_file).');

    const before = double.stats.getFile;
    await bot.handleUpdate(update({ document: { file_id: 'pdf', file_unique_id: 'uniq-pdf', mime_type: 'application/pdf' } }));
    expect(double.messages.at(-1)!.text).toBe('Send me an image: as a photo, or as a file to keep the original.');
    expect(double.stats.getFile).toBe(before);
  });

  it('the same update delivered twice makes one asset', async () => {
    const count = async () => (await stack.services.db.query('SELECT count(*)::int AS n FROM "Asset"')).rows[0]!.n as number;
    const before = await count();
    const u = update({ photo: [{ file_id: 'photo-twice', file_unique_id: 'uniq-twice', width: 50, height: 50 }] });
    await bot.handleUpdate(u);
    await bot.handleUpdate(u);
    const [a, b] = double.messages.slice(-2).map((m) => m.text);
    expect(a).toBe(b);
    expect(await count()).toBe(before + 1);
  });
});

describe('pickImage', () => {
  it('prefers the most pixels, and only image documents', () => {
    const base = { message_id: 1, date: 0, chat: { id: 1, type: 'private' as const, first_name: 'x' } };
    expect(pickImage({ ...base, photo: [...photoSizes].reverse() } as never)).toEqual({ fileId: 'photo-l', fileUniqueId: 'uniq-l' });
    expect(pickImage({ ...base, document: { file_id: 'd', file_unique_id: 'u', mime_type: 'image/webp' } } as never)).toEqual({ fileId: 'd', fileUniqueId: 'u' });
    expect(pickImage({ ...base, document: { file_id: 'd', file_unique_id: 'u', mime_type: 'video/mp4' } } as never)).toBeUndefined();
    expect(pickImage({ ...base, text: 'hi' } as never)).toBeUndefined();
  });
});
