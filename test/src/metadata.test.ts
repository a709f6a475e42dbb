/**
 * METADATA_POLICY=strip end to end, on both paths (web upload finalize, Telegram rehost): files
 * carrying GPS, serial numbers, names, XMP, IPTC and comments (written by exiftool) are stored
 * without them; the public object, downloaded anonymously, is checked by exiftool, decoded by
 * sharp (same pixels as uploaded) and shown by Chromium (displayed dimensions).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BotApiDouble, sha256, startBotApiDouble } from '@rehost/testing';
import {
  appendMotionPhoto,
  exiftoolTags,
  type FixtureFormat,
  makeBaseImage,
  makeOrientedAvif,
  makePersonalImage,
  personalTags,
  rawPixels,
} from '@rehost/testing/metadata';
import { type Browser, chromium } from 'playwright-core';
import { putUpload, waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TYPES: Record<FixtureFormat, string> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif' };

let stack: Stack;
let bot: BotApiDouble;
let n = 0;
/** What the url-source origin serves, by path. */
const served = new Map<string, Buffer>();
const origin = http.createServer((req, res) => {
  const body = served.get(req.url ?? '');
  res.writeHead(body ? 200 : 404, { 'content-type': 'application/octet-stream' }).end(body);
});
let originUrl: string;

beforeAll(async () => {
  bot = await startBotApiDouble();
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  stack = await startStack({
    env: {
      TELEGRAM_BOT_TOKEN: bot.token,
      TELEGRAM_API_BASE_URL: bot.baseUrl,
      REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
      REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await bot?.close();
  await new Promise((resolve) => origin.close(resolve));
});

async function upload(bytes: Buffer, format: FixtureFormat) {
  const res = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: TYPES[format], size: bytes.length } });
  expect(res.status).toBe(201);
  const { assetId, upload: target } = res.body as { assetId: string; upload: { url: string; headers: Record<string, string> } };
  expect(await putUpload(target, bytes)).toBe(200);
  expect((await stack.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' })).status).toBe(202);
  return waitTerminal(stack, assetId);
}

async function rehostTelegram(bytes: Buffer) {
  n++;
  const ids = { fileId: `AgACAgIAAxkBAAImeta${n}`, fileUniqueId: `AQADmeta${n}` };
  bot.addFile({ ...ids, bytes });
  const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', fileId: ids.fileId } } });
  expect(res.status).toBe(202);
  return waitTerminal(stack, (res.body as { assetId: string }).assetId);
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** What every stripped, stored file must be, whichever path stored it. */
async function expectStripped(asset: Record<string, unknown>, original: Buffer, format: FixtureFormat, orientation: number | undefined) {
  expect(asset.status).toBe('ready');
  const stored = await download(asset.url as string);
  const tags = exiftoolTags(stored, format);
  expect(personalTags(tags)).toEqual([]);
  expect(asset).toMatchObject({ sha256: sha256(stored), size: stored.length, sourceSha256: sha256(original) });
  expect(asset.metadataRemoved).toEqual(expect.arrayContaining(format === 'gif' ? ['xmp'] : ['exif']));
  if (orientation) {
    expect(tags['IFD0:Orientation']).toBe(orientation);
    expect(asset.orientation).toBe(orientation);
  }
  expect(await rawPixels(stored)).toEqual(await rawPixels(original));
  return stored;
}

describe('web upload (finalize)', () => {
  it.each<FixtureFormat>(['jpg', 'png', 'webp', 'gif', 'avif'])('%s: the public object carries no personal metadata, same pixels', async (format) => {
    const orientation = format === 'jpg' || format === 'png' || format === 'webp' ? 6 : undefined;
    const original = await makePersonalImage(format, { width: 96, height: 64, orientation });
    expect(personalTags(exiftoolTags(original, format)).length).toBeGreaterThan(0);
    const asset = await upload(original, format);
    await expectStripped(asset, original, format, orientation);
    // Reported as displayed: a quarter turn swaps them where browsers apply it (JPEG, PNG; not WebP).
    expect([asset.width, asset.height]).toEqual(orientation === 6 && format !== 'webp' ? [64, 96] : [96, 64]);
  });

  it('a file with nothing to strip is published as uploaded (server-side copy)', async () => {
    const clean = await makeBaseImage('png');
    const asset = await upload(clean, 'png');
    expect(asset).toMatchObject({ status: 'ready', sha256: sha256(clean), sourceSha256: sha256(clean), metadataRemoved: [], orientation: 1 });
    expect((await download(asset.url)).equals(clean)).toBe(true);
  });
});

describe('Telegram rehost', () => {
  it.each<FixtureFormat>(['jpg', 'webp', 'avif'])('%s sent as a document: stored without personal metadata, same pixels', async (format) => {
    const orientation = format === 'avif' ? undefined : 6;
    const original = await makePersonalImage(format, { width: 96, height: 64, orientation });
    const asset = await rehostTelegram(original);
    await expectStripped(asset, original, format, orientation);
  });

  it('a deduplicated asset reports the same stored facts as the one it shares', async () => {
    const original = await makePersonalImage('jpg', { orientation: 6 });
    n++;
    const ids = { fileId: `AgACAgIAAxkBAAIdup${n}`, fileUniqueId: `AQADdup${n}` };
    bot.addFile({ ...ids, bytes: original });
    const first = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...ids } } });
    const a = await waitTerminal(stack, (first.body as { assetId: string }).assetId);
    const second = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'telegram', ...ids } } });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ key: a.key, sha256: a.sha256, sourceSha256: a.sourceSha256, orientation: 6, metadataRemoved: a.metadataRemoved, width: 64, height: 96 });
  });
});

describe('url rehost', () => {
  it('a motion photo with personal metadata: stored without either, same pixels, still a JPEG', async () => {
    const photo = await makePersonalImage('jpg', { width: 96, height: 64, orientation: 6 });
    const original = appendMotionPhoto(photo);
    served.set('/motion.jpg', original);
    const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: `${originUrl}/motion.jpg` } } });
    expect(res.status).toBe(202);
    const asset = await waitTerminal(stack, (res.body as { assetId: string }).assetId);
    const stored = await expectStripped(asset, original, 'jpg', 6);
    expect(asset.metadataRemoved).toEqual(expect.arrayContaining(['gps', 'xmp', 'iptc', 'comment', 'trailing']));
    expect(stored.includes(Buffer.from('ftypmp42', 'latin1'))).toBe(false);
    expect([asset.width, asset.height]).toEqual([64, 96]);
  });
});

describe('a real browser shows the stored file upright, at the reported size', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it.each<[FixtureFormat, number]>([
    ['jpg', 1],
    ['jpg', 3],
    ['jpg', 5],
    ['jpg', 6],
    ['jpg', 8],
    ['png', 6],
    ['webp', 6],
    ['avif', 6],
    ['avif', 5],
  ])('%s with orientation %i', async (format, orientation) => {
    // AVIF turns by its irot/imir properties (sharp writes them), the others by EXIF (exiftool).
    const original = format === 'avif' ? await makeOrientedAvif(orientation) : await makePersonalImage(format, { width: 96, height: 64, orientation });
    const asset = await upload(original, format);
    const page = await browser.newPage();
    try {
      await page.setContent(`<img id="i" src="${asset.url}">`);
      // Evaluated in the page (strings: this package's TypeScript has no DOM types).
      await page.waitForFunction('document.getElementById("i").complete', undefined, { timeout: 10_000 });
      const shown = await page.evaluate('(({ naturalWidth, naturalHeight }) => [naturalWidth, naturalHeight])(document.getElementById("i"))');
      expect(shown).toEqual([asset.width, asset.height]);
      const box = await page.locator('#i').boundingBox();
      expect([box?.width, box?.height]).toEqual([asset.width, asset.height]);
      await page.locator('#i').screenshot({ path: `${process.env.TMPDIR ?? '/tmp'}/rehost-orientation-${format}-${orientation}.png` });
    } finally {
      await page.close();
    }
  });
});

describe('METADATA_POLICY=keep', () => {
  let keep: Stack;
  beforeAll(async () => {
    keep = await startStack({ env: { METADATA_POLICY: 'keep' } });
  });
  afterAll(async () => {
    await keep?.close();
  });

  it('stores the bytes exactly as received, and still reports them as displayed', async () => {
    const original = await makePersonalImage('jpg', { width: 96, height: 64, orientation: 6 });
    const res = await keep.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/jpeg', size: original.length } });
    const { assetId, upload: target } = res.body as { assetId: string; upload: { url: string; headers: Record<string, string> } };
    expect(await putUpload(target, original)).toBe(200);
    await keep.call(`/v1/uploads/${assetId}/complete`, { method: 'POST' });
    const asset = await waitTerminal(keep, assetId);
    expect(asset).toMatchObject({ status: 'ready', sha256: sha256(original), sourceSha256: sha256(original), metadataRemoved: [], orientation: 6, width: 64, height: 96 });
    expect((await download(asset.url)).equals(original)).toBe(true);
  });
});
