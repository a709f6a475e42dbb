/**
 * Source files for scenarios: real PNGs registered with the Bot API double (optionally served
 * at a fixed rate, so jobs stay in flight long enough to be faulted), with an event per download
 * start; and a tiny origin server for `url` sources.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type BotApiDouble, makePng, makePngOfSize, sha256 } from '../../packages/testing/src/index.js';

/** Requests held until released, in arrival order; `arrived(n)` resolves once `n` have been held in all. */
export class Pen {
  private readonly waiting: (() => void)[] = [];
  private count = 0;
  private readonly listeners = new Set<() => void>();
  isOpen = false;

  /** Resolves when released (at once if the pen is open). */
  hold(): Promise<void> {
    this.count++;
    for (const l of this.listeners) l();
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  get held(): number {
    return this.waiting.length;
  }

  get total(): number {
    return this.count;
  }

  /** Resolves once `n` requests in all have arrived; rejects after `timeoutMs`. */
  arrived(n: number, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.count < n) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`only ${this.count} of ${n} requests arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Lets every held request go, and every later one through at once. */
  open(): void {
    this.isOpen = true;
    for (const r of this.waiting.splice(0)) r();
  }
}

/** A body that sends nothing until `pen` lets it go, then `bytes` at once: a download held mid-way. */
export function heldBody(bytes: Buffer, pen: Pen): Readable {
  let started = false;
  return new Readable({
    read() {
      if (started) return;
      started = true;
      void pen.hold().then(() => {
        this.push(bytes);
        this.push(null);
      });
    },
  });
}

export interface SourceFile {
  fileId: string;
  fileUniqueId: string;
  bytes: Buffer;
  sha256: string;
}

/** Emits 'start' (fileId) whenever a download of one of the registered files begins. */
export const downloads = new EventEmitter();
downloads.setMaxListeners(0);

/** Streams `bytes` at about `bytesPerSecond` (64 KiB slices). */
export function throttled(bytes: Buffer, bytesPerSecond: number): Readable {
  const slice = 64 * 1024;
  const interval = Math.max(1, Math.round((slice / bytesPerSecond) * 1000));
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        const part = bytes.subarray(offset, offset + slice);
        offset += part.length;
        this.push(part.length > 0 ? part : null);
        if (offset >= bytes.length) this.push(null);
      }, interval);
    },
    destroy(err, cb) {
      if (timer) clearTimeout(timer);
      cb(err);
    },
  });
}

export interface FileOptions {
  /** Bytes of each file (a noise PNG of about this size); or `side` for an exact square PNG. */
  size?: number;
  side?: number;
  /** Serve downloads at this rate instead of at once. */
  bytesPerSecond?: number;
  /** Only each file's first download is slowed (a retry elsewhere streams at once). */
  slowFirstOnly?: boolean;
  /** Downloads (after their headers) wait in this pen until it opens. */
  pen?: Pen;
}

/** Registers `n` distinct files named `<prefix>-<i>` with the double. */
export function addFiles(bot: BotApiDouble, prefix: string, n: number, opts: FileOptions = {}): SourceFile[] {
  return Array.from({ length: n }, (_, i) => {
    const bytes = opts.size ? makePngOfSize(opts.size) : makePng(opts.side ?? 16 + (i % 32), opts.side ?? 16);
    const file: SourceFile = { fileId: `${prefix}-${i}`, fileUniqueId: `${prefix}-u${i}`, bytes, sha256: sha256(bytes) };
    let served = 0;
    bot.addFile({
      fileId: file.fileId,
      fileUniqueId: file.fileUniqueId,
      size: bytes.length,
      body: () => {
        downloads.emit('start', file.fileId);
        const slow = opts.bytesPerSecond && !(opts.slowFirstOnly && served > 0);
        served++;
        if (opts.pen) return heldBody(bytes, opts.pen);
        return slow ? throttled(bytes, opts.bytesPerSecond!) : Readable.from([bytes]);
      },
    });
    return file;
  });
}

/** Resolves once `n` more downloads (of any registered file) have started, or rejects after `timeoutMs`. */
export function downloadsStarted(n: number, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onStart = () => {
      if (++seen < n) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`only ${seen} of ${n} downloads started within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      downloads.off('start', onStart);
    };
    downloads.on('start', onStart);
  });
}

export interface ChangingFile {
  url: string;
  /** sha256 of every body served so far (a new valid PNG per request). */
  sha256s: Set<string>;
}

export interface Origin {
  baseUrl: string;
  add(name: string, bytes: Buffer): string;
  /**
   * A source whose bytes change on every request (a fresh noise PNG of about `size` bytes each
   * time): two runs of one job download different bytes. Each body is streamed at
   * `bytesPerSecond` (only the first request's, with `slowFirstOnly`), or held in `pen`.
   */
  addChanging(name: string, opts: { size: number; bytesPerSecond?: number; slowFirstOnly?: boolean; pen?: Pen }): ChangingFile;
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** An origin for `url` sources: GET /<name> serves the registered bytes; counts downloads. */
export async function startOrigin(): Promise<Origin> {
  const files = new Map<string, Buffer>();
  const changing = new Map<string, Parameters<Origin['addChanging']>[1] & ChangingFile>();
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    const hit = (hits.get(name) ?? 0) + 1;
    hits.set(name, hit);
    const live = changing.get(name);
    if (live) {
      const bytes = makePngOfSize(live.size);
      live.sha256s.add(sha256(bytes));
      downloads.emit('start', name);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      const slow = live.bytesPerSecond && !(live.slowFirstOnly && hit > 1);
      const body = live.pen ? heldBody(bytes, live.pen) : slow ? throttled(bytes, live.bytesPerSecond!) : Readable.from([bytes]);
      body.pipe(res);
      res.on('close', () => body.destroy());
      return;
    }
    const bytes = files.get(name);
    if (!bytes) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    hits,
    add(name, bytes) {
      files.set(name, bytes);
      return `${baseUrl}/${name}`;
    },
    addChanging(name, opts) {
      const file = { ...opts, url: `${baseUrl}/${name}`, sha256s: new Set<string>() };
      changing.set(name, file);
      return { url: file.url, sha256s: file.sha256s };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
