/**
 * The /demo page in a real browser (Debian's Chromium driven by playwright-core): a person
 * picks a file, the browser PUTs it cross-origin to the store with the pre-signed URL, and
 * the page shows the verified, permanent image, or a clear refusal.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestBucket, makePng, makePngOfSize, sha256 } from '@rehost/testing';
import { makePersonalImage } from '@rehost/testing/metadata';
import { type Browser, type BrowserContext, chromium, type Page, type Request } from 'playwright-core';
import { type Stack, startStack } from './stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;
const SCREENSHOT = '/tmp/demo-ready.png';

let stack: Stack;
let browser: Browser;
let dir: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  [stack, browser, dir] = await Promise.all([
    startStack({ env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), DEMO_PAGE: 'true' } }),
    // launch() gives every run a fresh temporary profile (its own --user-data-dir).
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    mkdtemp(path.join(tmpdir(), 'rehost-browser-')),
  ]);
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface DemoPage {
  page: Page;
  requests: Request[];
  /** Uncaught exceptions and Content-Security-Policy violations: both must stay empty. */
  problems: string[];
}

async function openDemo(beforeLoad?: (page: Page) => Promise<unknown>): Promise<DemoPage> {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 800, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  await beforeLoad?.(page);
  const requests: Request[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r));
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  const res = await page.goto(`${stack.baseUrl}/demo`);
  expect(res?.status()).toBe(200);
  return { page, requests, problems };
}

async function fileOnDisk(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** Waits for the page to settle in `state` (ready or refused), failing fast on the other one. */
async function settled(page: Page, state: 'ready' | 'refused'): Promise<void> {
  await page.locator('main[data-state="ready"], main[data-state="refused"]').waitFor({ timeout: 45_000 });
  const actual = await page.locator('main').getAttribute('data-state');
  if (actual !== state) {
    const shown = await page.locator('#error').textContent().catch(() => '');
    throw new Error(`expected the page to end ${state}, it ended ${actual}: ${shown}`);
  }
}

/**
 * Rewrites the upload URL the page receives from POST /demo/uploads, inside the page. Not with
 * page.route(): while Playwright intercepts requests it answers CORS preflights itself, which
 * would hide exactly what these tests check.
 */
const rewriteUploadUrl = (rewrite: { tamperSignature: true } | { url: string }) => (page: Page) =>
  page.addInitScript((r: { tamperSignature?: true; url?: string }) => {
    const g = globalThis as any;
    const fetchOriginal = g.fetch.bind(g);
    g.fetch = async (input: unknown, init: unknown) => {
      const res = await fetchOriginal(input, init);
      if (!String(input).endsWith('/demo/uploads') || !res.ok) return res;
      const body = await res.json();
      body.upload.url =
        r.url ?? body.upload.url.replace(/X-Amz-Signature=([0-9a-f])/, (_m: string, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
      return new g.Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    };
  }, rewrite);

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim();

describe('the demo upload page', () => {
  it('a phone photo turned by its EXIF orientation: shown upright and described as displayed', async () => {
    // 96x64 pixels stored, Orientation=6: a viewer shows it 64 wide and 96 tall.
    const photo = await makePersonalImage('jpg', { width: 96, height: 64, orientation: 6 });
    const { page, problems } = await openDemo();
    await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('portrait.jpg', photo));
    await settled(page, 'ready');
    const image = page.getByRole('img', { name: 'Uploaded image portrait.jpg' });
    const shown = await image.evaluate((img: any) => [img.naturalWidth, img.naturalHeight]);
    expect(shown).toEqual([64, 96]);
    expect(await text(page, '#dimensions')).toBe('64 × 96 px');
    expect(problems).toEqual([]);
  });

  it('uploads a PNG: progress to 100%, verification, the permanent image with its details', async () => {
    const png = makePng(480, 320);
    const file = await fileOnDisk('holiday photo.png', png);
    const { page, requests, problems } = await openDemo();
    expect(await page.content()).not.toContain(stack.token);

    // Every value the progress bar takes, as the page sets it.
    await page.locator('#progress').evaluate((bar: any) => {
      bar.seen = [];
      new (globalThis as any).MutationObserver(() => bar.seen.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
    });
    // Slow the upload down (CDP throttling) so the bar has steps to show between 0 and 100.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
    const created = page.waitForResponse((r) => r.url().endsWith('/demo/uploads') && r.request().method() === 'POST');
    const putDone = page.waitForResponse((r) => r.request().method() === 'PUT');
    await page.getByLabel('Choose an image').setInputFiles(file);

    const { upload } = (await (await created).json()) as { upload: { url: string; headers: Record<string, string> } };
    const put = await putDone;
    expect(put.status()).toBe(200);
    expect(put.url()).toBe(upload.url);
    // Cross-origin: the page is served by the API, the PUT goes to the store, and CORS let it through.
    const pageOrigin = new URL(page.url()).origin;
    expect(new URL(put.url()).origin).not.toBe(pageOrigin);
    expect(['*', pageOrigin]).toContain(put.headers()['access-control-allow-origin']);
    // Exactly the headers the API handed out (Content-Length set by the browser from the file).
    const sent = await put.request().allHeaders();
    for (const [name, value] of Object.entries(upload.headers)) expect(sent[name.toLowerCase()]).toBe(value);
    expect(sent['content-length']).toBe(String(png.length));

    await settled(page, 'ready');
    const seen = await page.locator('#progress').evaluate((bar: any) => bar.seen as number[]);
    expect(seen.at(-1)).toBe(100);
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(await text(page, '#percent')).toBe('100%');

    const shownUrl = await text(page, '#url');
    expect(shownUrl).toMatch(new RegExp(`^${stack.services.env.PUBLIC_BASE_URL}/i/[0-9a-f]{32}\\.png$`));
    const image = page.getByRole('img', { name: 'Uploaded image holiday photo.png' });
    expect(await image.getAttribute('src')).toBe(shownUrl);
    const loaded = await image.evaluate((img: any) => ({ complete: img.complete, width: img.naturalWidth, height: img.naturalHeight }));
    expect(loaded).toEqual({ complete: true, width: 480, height: 320 });
    expect(await page.getByRole('link', { name: shownUrl }).getAttribute('href')).toBe(shownUrl);
    expect(await text(page, '#type')).toBe('image/png');
    expect(await text(page, '#dimensions')).toBe('480 × 320 px');
    expect(await text(page, '#size')).toContain(`(${png.length.toLocaleString('en-US')} bytes)`);
    expect(await page.getByRole('status').textContent()).toBe('holiday photo.png is ready.');
    expect(await page.getByRole('alert').isHidden()).toBe(true);

    // The permanent URL serves exactly the file's bytes.
    const res = await fetch(shownUrl!);
    expect(res.status).toBe(200);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(png));

    // The browser never held a service token.
    expect(requests.filter((r) => r.headers().authorization !== undefined).map((r) => r.url())).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('refuses an SVG before anything is uploaded (415 from the API)', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
    const { page, requests, problems } = await openDemo();
    await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('drawing.svg', svg));
    await settled(page, 'refused');
    expect(await text(page, '#error-title')).toBe('This type of file is not accepted.');
    expect(await text(page, '#error-detail')).toContain('"image/svg+xml" is not accepted');
    expect(await page.getByRole('alert').isVisible()).toBe(true);
    expect(requests.filter((r) => r.method() === 'PUT')).toEqual([]);
    expect(await page.locator('#result').isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('refuses a text file renamed .png, dropped on the page, once its bytes are checked', async () => {
    const notes = Buffer.from('these are my notes, not a picture\n');
    const { page, requests, problems } = await openDemo();
    // A drop as the OS would make it: Chromium types the file by its extension.
    const dataTransfer = await page.evaluateHandle((bytes: number[]) => {
      const dt = new (globalThis as any).DataTransfer();
      dt.items.add(new (globalThis as any).File([new Uint8Array(bytes)], 'notes.png', { type: 'image/png' }));
      return dt;
    }, [...notes]);
    await page.locator('#drop').dispatchEvent('drop', { dataTransfer });
    await settled(page, 'refused');
    expect(await text(page, '#error-title')).toBe('The file was refused after upload.');
    expect(await text(page, '#error-detail')).toMatch(/not an accepted image/);
    // It did reach the store: the refusal is the verification's, not the browser's.
    const put = requests.find((r) => r.method() === 'PUT');
    expect((await put?.response())?.status()).toBe(200);
    expect(problems).toEqual([]);
  });

  it('refuses a file over the size limit (413 from the API)', async () => {
    const big = makePngOfSize(MAX_UPLOAD_BYTES + 100_000);
    expect(big.length).toBeGreaterThan(MAX_UPLOAD_BYTES);
    const { page, requests } = await openDemo();
    await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('huge.png', big));
    await settled(page, 'refused');
    expect(await text(page, '#error-title')).toBe('This file is too large.');
    expect(await text(page, '#error-detail')).toBe(`${big.length} bytes exceeds the limit of ${MAX_UPLOAD_BYTES} bytes`);
    expect(requests.filter((r) => r.method() === 'PUT')).toEqual([]);
  });

  it('says so when the store refuses the PUT (a tampered signature)', async () => {
    const { page, requests } = await openDemo(rewriteUploadUrl({ tamperSignature: true }));
    const created = page.waitForResponse((r) => r.url().endsWith('/demo/uploads'));
    await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('tampered.png', makePng(16, 16)));
    const { assetId } = (await (await created).json()) as { assetId: string };
    await settled(page, 'refused');
    // RGW sends no CORS headers with its 403, so the browser sees a failed request, not the status.
    expect(await text(page, '#error-title')).toBe('Storage did not accept the upload.');
    expect(await text(page, '#error-detail')).toMatch(/link may have expired or not match this file/);
    expect(requests.filter((r) => r.method() === 'PUT' && r.url().includes('X-Amz-Signature'))).toHaveLength(1);
    expect(await stack.services.bucket.store.head(`staging/${assetId}`)).toBeUndefined();
  });

  it("names the store's error when its 403 is readable (a store that sends CORS headers on errors)", async () => {
    const { page } = await openDemo();
    // Routing is fine here: this test is about the page reading the answer, not about CORS.
    await page.route(
      (url) => url.port === new URL(stack.services.env.S3_ENDPOINT!).port,
      (route) =>
        route.fulfill({
          status: 403,
          headers: { 'access-control-allow-origin': '*', 'content-type': 'application/xml' },
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code></Error>',
        }),
    );
    await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('refused.png', makePng(16, 16)));
    await settled(page, 'refused');
    expect(await text(page, '#error-title')).toBe('Storage did not accept the upload.');
    expect(await text(page, '#error-detail')).toBe('403 SignatureDoesNotMatch: the upload link has expired or does not match this file.');
  });
});

describe('CORS on the bucket', () => {
  it('refuses the preflight, and so the browser PUT, from an origin the rule does not name', async () => {
    const bucket = await createTestBucket();
    try {
      await bucket.store.ensureBucket({ corsOrigins: ['http://allowed.example'], publicRead: true });
      const preflight = (origin: string) =>
        fetch(`${bucket.publicBaseUrl}/staging/probe`, {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' },
        });
      const allowed = await preflight('http://allowed.example');
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://allowed.example');
      const evil = await preflight('http://evil.example');
      expect(evil.status).toBe(403);
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();

      // The same from the page: a URL signed for that bucket cannot be used from the API's origin.
      const png = makePng(16, 16);
      const signed = await bucket.store.presignPut('staging/probe', 'image/png', png.length, 60);
      const { page } = await openDemo(rewriteUploadUrl({ url: signed.url }));
      const failed = page.waitForEvent('requestfailed', (r) => r.method() === 'PUT');
      await page.getByLabel('Choose an image').setInputFiles(await fileOnDisk('elsewhere.png', png));
      await settled(page, 'refused');
      expect((await failed).url()).toBe(signed.url);
      expect(await text(page, '#error-title')).toBe('Storage did not accept the upload.');
      expect(await bucket.store.head('staging/probe')).toBeUndefined();
    } finally {
      await bucket.cleanup();
    }
  });
});
