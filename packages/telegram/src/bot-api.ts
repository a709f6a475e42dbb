/**
 * The Telegram Bot API client: `getFile`, and streamed downloads of the file it names.
 *
 * The token is part of every URL, and got puts URLs on its errors (`options.url`, `response.url`,
 * `request`), so no got error leaves this module: each failure becomes an AppError whose message we
 * write, with no `cause`. The token lives in a `#private` field so logging the client cannot show it.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { AppError } from '@rehost/jobs';
import type { Got } from 'got';
import { z } from 'zod';
import { classifyFailure, networkCode, networkFailure, telegramErrors } from './bot-api-errors.js';
import {
  DEFAULT_LOCAL_SERVER_DIR,
  type LocalFilesOptions,
  localFileErrors,
  localFileUrl,
  openLocalFile,
  relativeLocalPath,
  VANISHED,
} from './local-files.js';
import { redactKnownToken } from './redact.js';

export interface TelegramFile {
  fileId: string;
  fileUniqueId: string;
  fileSize?: number;
  filePath?: string;
}

export interface BotApiOptions {
  /** Bot API origin, e.g. `https://api.telegram.org` or a local Bot API server. */
  baseUrl: string;
  token: string;
  /** The bot's name in configuration and messages (`default`, …); never the token. */
  name: string;
  /**
   * Per request: the whole of a method call; for a download, the wait for response headers
   * (the body is bounded by `idleTimeoutMs` instead, so large files are not cut off).
   * @defaultValue 10_000
   */
  timeoutMs?: number;
  /** Retries for network errors, 5xx and short 429s inside one call. @defaultValue 3 */
  retries?: number;
  /** First backoff delay, doubled per retry, with jitter. @defaultValue 250 */
  retryBaseDelayMs?: number;
  /** Longest backoff delay. @defaultValue 5_000 */
  retryMaxDelayMs?: number;
  /**
   * A 429 whose `retry_after` is at most this is waited out inside the call; a longer one is
   * surfaced as `rate_limited` with `retryAfterSeconds`, so the job can be delayed instead.
   * @defaultValue 5
   */
  maxRetryAfterSeconds?: number;
  /** @defaultValue 5_000 */
  connectTimeoutMs?: number;
  /** A download that receives no bytes for this long fails. @defaultValue 30_000 */
  idleTimeoutMs?: number;
  /** Called for every failed attempt: `method` is `getFile` or `download`, `code` the HTTP status or 0 for network errors. */
  onApiError?: (method: string, code: number) => void;
  /**
   * Where absolute `file_path`s of a local Bot API server are read from (see local-files.ts).
   * Relative paths (the cloud Bot API) are downloaded from `baseUrl` as always.
   */
  localFiles?: LocalFilesOptions;
}

const envelopeSchema = z.object({
  ok: z.boolean(),
  result: z.unknown().optional(),
  error_code: z.number().optional(),
  description: z.string().optional(),
  parameters: z.object({ retry_after: z.number().optional() }).optional(),
});

const fileSchema = z.object({
  file_id: z.string(),
  file_unique_id: z.string(),
  file_size: z.number().optional(),
  file_path: z.string().optional(),
});

type Envelope = z.infer<typeof envelopeSchema>;

function parseEnvelope(text: string): Envelope | undefined {
  try {
    const parsed = envelopeSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterHeader(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['retry-after'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Reads a short error body (at most 64 KB); failures give ''. */
async function readSmall(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 64 * 1024) break;
    }
  } catch {
    return '';
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The download URL expired (404): ask getFile for a fresh path. */
const EXPIRED = Symbol('expired');

export class TelegramBotApi {
  readonly name: string;
  readonly baseUrl: string;
  readonly #token: string;
  /**
   * got is imported at the first call, not with this module: got imports `node:http` as ESM, which
   * makes Node load its bundled undici (and http2) for the facade's lazy exports — about 12 MB of
   * RSS that a worker with no bots, or none called yet, does not need.
   */
  #http: Promise<Got> | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryBaseDelayMs: number;
  readonly #retryMaxDelayMs: number;
  readonly #maxRetryAfterSeconds: number;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #onApiError: ((method: string, code: number) => void) | undefined;
  readonly #localFiles: LocalFilesOptions;
  /** Errors that already went through their own retries (getFile inside openFile): not retried again. */
  readonly #final = new WeakSet<AppError>();

  constructor(opts: BotApiOptions) {
    if (!opts.token || /[\s/?#]/.test(opts.token)) {
      throw new Error(`Telegram bot "${opts.name}": the token is empty or malformed`);
    }
    this.name = opts.name;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#retries = opts.retries ?? 3;
    this.#retryBaseDelayMs = opts.retryBaseDelayMs ?? 250;
    this.#retryMaxDelayMs = opts.retryMaxDelayMs ?? 5_000;
    this.#maxRetryAfterSeconds = opts.maxRetryAfterSeconds ?? 5;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
    this.#onApiError = opts.onApiError;
    this.#localFiles = opts.localFiles ?? {};
  }

  #client(): Promise<Got> {
    // Retries are ours (bounded, abortable, aware of retry_after); statuses are read, not thrown.
    this.#http ??= import('got').then(({ default: got }) =>
      got.extend({
        retry: { limit: 0 },
        throwHttpErrors: false,
        followRedirect: false,
        headers: { 'user-agent': 'rehost-telegram' },
      }),
    );
    return this.#http;
  }

  /** What a logger sees when handed the client. */
  toJSON(): { name: string; baseUrl: string } {
    return { name: this.name, baseUrl: this.baseUrl };
  }

  getFile(fileId: string, signal?: AbortSignal): Promise<TelegramFile> {
    return this.#withRetries(signal, () => this.#getFileOnce(fileId, signal));
  }

  /**
   * getFile, then the download as a stream (never buffered). A 404 on the download (an expired
   * file_path) calls getFile again once and retries. The stream fails with an AppError
   * (`telegram_unavailable`, transient) when the body breaks off or comes up short, or with the
   * signal's reason when aborted.
   */
  async openFile(fileId: string, signal?: AbortSignal, known?: TelegramFile): Promise<{ file: TelegramFile; stream: Readable }> {
    // A caller that already called getFile (to learn file_unique_id) passes the result: one Bot API call saved.
    let file = known?.filePath ? known : await this.getFile(fileId, signal);
    let refreshed = false;
    let stale = false;
    const stream = await this.#withRetries(signal, async () => {
      for (;;) {
        if (stale) {
          file = await this.getFile(fileId, signal).catch((err: unknown) => {
            if (err instanceof AppError) this.#final.add(err);
            throw err;
          });
          stale = false;
        }
        const local = file.filePath !== undefined && file.filePath.startsWith('/');
        const result = local ? await this.#openLocal(file, signal) : await this.#downloadOnce(this.#cloudFileUrl(file), signal);
        if (result !== EXPIRED) return result;
        if (refreshed) {
          const err = local
            ? localFileErrors.vanishedTwice()
            : telegramErrors.unavailable('Telegram file server answered 404 for a freshly issued file path');
          this.#final.add(err);
          throw err;
        }
        refreshed = true;
        stale = true;
      }
    });
    return { file, stream };
  }

  async #getFileOnce(fileId: string, signal: AbortSignal | undefined): Promise<TelegramFile> {
    const http = await this.#client();
    let res: { statusCode: number; body: string; headers: IncomingHttpHeaders };
    try {
      res = await http.post(`${this.baseUrl}/bot${this.#token}/getFile`, {
        json: { file_id: fileId },
        responseType: 'text',
        timeout: { connect: this.#connectTimeoutMs, request: this.#timeoutMs },
        signal,
      });
    } catch (err) {
      signal?.throwIfAborted();
      this.#report('getFile', 0);
      throw networkFailure('getFile', err);
    }
    const body = parseEnvelope(res.body);
    if (res.statusCode === 200 && body?.ok === true) {
      const parsed = fileSchema.safeParse(body.result);
      if (parsed.success) {
        const { file_id, file_unique_id, file_size, file_path } = parsed.data;
        return { fileId: file_id, fileUniqueId: file_unique_id, fileSize: file_size, filePath: file_path };
      }
    }
    const status = body?.ok === false && body.error_code !== undefined ? body.error_code : res.statusCode;
    this.#report('getFile', status);
    if (status === 200) throw telegramErrors.unavailable('Telegram Bot API getFile answered an unreadable body');
    throw classifyFailure('getFile', this.name, {
      status,
      description: body?.description === undefined ? undefined : this.#redact(body.description),
      retryAfterSeconds: body?.parameters?.retry_after ?? retryAfterHeader(res.headers),
    });
  }

  #cloudFileUrl(file: TelegramFile): string | undefined {
    return file.filePath === undefined ? undefined : `${this.baseUrl}/file/bot${this.#token}/${file.filePath}`;
  }

  /**
   * A local Bot API server's absolute path: read from the mounted directory, or fetched from the
   * static server in front of it. EXPIRED when the file is gone (server restarted or cleaned up).
   */
  async #openLocal(file: TelegramFile, signal: AbortSignal | undefined): Promise<Readable | typeof EXPIRED> {
    const { dir, baseUrl, serverDir = dir ?? DEFAULT_LOCAL_SERVER_DIR } = this.#localFiles;
    if (dir === undefined && baseUrl === undefined) throw localFileErrors.notConfigured(this.name);
    const rel = relativeLocalPath(file.filePath!, serverDir);
    if (rel === undefined) throw localFileErrors.escapes();
    if (dir !== undefined) {
      signal?.throwIfAborted();
      const opened = await openLocalFile(dir, rel, file.fileSize);
      if (opened === VANISHED) {
        this.#report('download', 404);
        return EXPIRED;
      }
      return opened;
    }
    return this.#downloadOnce(localFileUrl(baseUrl!, rel), signal);
  }

  /** Resolves with the body once a 200 arrives, or EXPIRED on 404; rejects with an AppError. */
  async #downloadOnce(url: string | undefined, signal: AbortSignal | undefined): Promise<Readable | typeof EXPIRED> {
    if (url === undefined) {
      throw telegramErrors.unavailable('Telegram Bot API getFile gave no file_path');
    }
    const http = await this.#client();
    return new Promise((resolve, reject) => {
      const req = http.stream(url, {
        decompress: false,
        timeout: { connect: this.#connectTimeoutMs, response: this.#timeoutMs, socket: this.#idleTimeoutMs },
        signal,
      });
      const onError = (err: unknown) => {
        if (signal?.aborted) return reject(signal.reason);
        this.#report('download', 0);
        reject(networkFailure('file download', err));
      };
      req.once('error', onError);
      req.once('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status === 200) {
          req.off('error', onError);
          resolve(this.#body(req, res, signal));
          return;
        }
        this.#report('download', status);
        if (status === 404) {
          req.off('error', onError);
          req.on('error', () => {});
          req.destroy();
          resolve(EXPIRED);
          return;
        }
        void readSmall(req).then((text) => {
          if (signal?.aborted) return reject(signal.reason);
          const body = parseEnvelope(text);
          reject(
            classifyFailure('file download', this.name, {
              status,
              description: body?.description === undefined ? undefined : this.#redact(body.description),
              retryAfterSeconds: body?.parameters?.retry_after ?? retryAfterHeader(res.headers),
            }),
          );
        });
      });
    });
  }

  /**
   * The caller's stream: got's own stream carries the URL, so it stays inside. Counting the bytes
   * catches a body shorter than its Content-Length even where the socket closes cleanly.
   */
  #body(req: Readable, res: IncomingMessage, signal: AbortSignal | undefined): Readable {
    const header = res.headers['content-length'];
    const expected = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    let received = 0;
    const brokenOff = (detail: string) => {
      this.#report('download', 0);
      return telegramErrors.unavailable(
        `Telegram file download broke off after ${received} of ${expected ?? 'unknown'} bytes (${detail})`,
      );
    };
    const out = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback(null, chunk);
      },
      flush(callback) {
        if (expected !== undefined && received !== expected) callback(brokenOff('short body'));
        else callback();
      },
    });
    req.on('error', (err: unknown) => {
      out.destroy(signal?.aborted ? signal.reason : brokenOff(networkCode(err)));
    });
    // A consumer that stops reading (destroy) must not leave the download running.
    out.on('close', () => {
      if (!req.destroyed) req.destroy();
    });
    req.pipe(out);
    return out;
  }

  async #withRetries<T>(signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      signal?.throwIfAborted();
      try {
        return await attempt();
      } catch (err) {
        signal?.throwIfAborted();
        if (!(err instanceof AppError) || err.permanent || this.#final.has(err)) throw err;
        // "wrong file_id or the file is temporarily unavailable": retried by the job, across attempts.
        if (err.code === 'telegram_invalid_file') throw err;
        if (err.code === 'rate_limited' && (err.retryAfterSeconds ?? 0) > this.#maxRetryAfterSeconds) throw err;
        if (retry >= this.#retries) {
          const exhausted = new AppError(err.code, `${err.message} (${retry + 1} attempt${retry === 0 ? '' : 's'})`, {
            retryAfterSeconds: err.retryAfterSeconds,
          });
          this.#final.add(exhausted);
          throw exhausted;
        }
        const waitMs =
          err.code === 'rate_limited' ? (err.retryAfterSeconds ?? 1) * 1000 : this.#backoffMs(retry);
        await this.#sleep(waitMs, signal);
      }
    }
  }

  #backoffMs(retry: number): number {
    const ceiling = Math.min(this.#retryMaxDelayMs, this.#retryBaseDelayMs * 2 ** retry);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  async #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await delay(ms, undefined, { signal });
    } catch (err) {
      signal?.throwIfAborted();
      throw err;
    }
  }

  #report(method: string, code: number): void {
    try {
      this.#onApiError?.(method, code);
    } catch {
      // A metrics hook must not change what the call does.
    }
  }

  #redact(text: string): string {
    return redactKnownToken(text, this.#token);
  }
}
