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

/** An origin for `url` sources: GET /<name> serves the registered bytes; counts downloads. */
export async function startOrigin(): Promise<{ baseUrl: string; add(name: string, bytes: Buffer): string; hits: Map<string, number>; close(): Promise<void> }> {
  const files = new Map<string, Buffer>();
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    const bytes = files.get(name);
    hits.set(name, (hits.get(name) ?? 0) + 1);
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
