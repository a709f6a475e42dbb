/**
 * A Telegram Bot API double on 127.0.0.1 that answers `getFile` and file downloads the way
 * api.telegram.org does (same JSON envelopes, statuses and descriptions), with fault controls
 * for tests and a streaming body path for benchmarks (bodies are never copied or held whole).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface DoubleFile {
  fileId: string;
  fileUniqueId: string;
  bytes?: Buffer;
  /** Or a generated body for huge files (benchmarks: up to 1 GB, streamed, not held in memory). */
  size?: number;
  /** Makes the body for `size` bytes; without it a fixed pattern is streamed. Must yield exactly `size` bytes. */
  body?: () => Readable;
  /** Local mode: getFile answers exactly this absolute path and writes nothing (tests of paths that escape). */
  filePath?: string;
}

export type DoubleFault =
  | { status: 429; retryAfter: number }
  | { status: 500 | 502 | 503 }
  | { cutAfterBytes: number }
  | { status: 404 }
  /** getFile only: a 400 with this description (e.g. 'Bad Request: wrong file_id or the file is temporarily unavailable'). */
  | { status: 400; description: string };

export interface BotApiDoubleOptions {
  /** Accepted bot tokens. @defaultValue one generated token shaped like a real one */
  tokens?: string[];
  /** How long an issued file path stays downloadable. @defaultValue 3_600_000 (1 h, like Telegram) */
  filePathTtlMs?: number;
  /** getFile answers 400 'Bad Request: file is too big' above this. @defaultValue 20 MB, like the cloud Bot API */
  maxDownloadBytes?: number;
  /**
   * Awaited before a getFile for a known file is answered: lets a race test decide what happens
   * while a worker is inside getFile (a test hook, not a timing guess).
   */
  beforeGetFile?: (fileId: string) => Promise<void>;
  /**
   * Answer like a local Bot API server (`telegram-bot-api --local`): getFile writes the file into
   * a temporary working directory (`<dir>/<token>/photos/file_N.jpg`, removed by close()) and
   * answers its absolute path; the double also serves that directory statically at
   * `localFilesBaseUrl` (the static server one may put in front of it). The default download cap
   * becomes 2000 MB, the local server's. In local mode a `failNext('download', n, { status: 404 })`
   * makes the next n getFile answers name a file that is not there (vanished: restart or clean-up).
   */
  local?: boolean;
}

export interface BotApiDouble {
  baseUrl: string;
  /** The first of `tokens`. */
  token: string;
  tokens: string[];
  addFile(f: DoubleFile): void;
  /** The next `n` requests to `method` fail as `how` says, before anything else is looked at. */
  failNext(method: 'getFile' | 'download', n: number, how: DoubleFault): void;
  /** Every file path issued so far now answers 404 (local mode: its file is deleted); the next getFile issues a new one. */
  expireFilePaths(): Promise<void>;
  /** Local mode: the working directory (as the server names it, and as tests read it: one host). */
  localDir?: string;
  /** Local mode: the static file server whose root is `localDir`. */
  localFilesBaseUrl?: string;
  stats: { getFile: number; downloads: number; downloadsByFileId: Map<string, number>; bytesServed: number; localWrites: number };
  /** Every request line seen: method and path (with query), bot tokens replaced by `<token>` (`<invalid-token>` for unknown ones). */
  requests: string[];
  /** Messages bots sent with `sendMessage`, in order (for example bots' tests). */
  messages: SentMessage[];
  close(): Promise<void>;
}

export interface SentMessage {
  messageId: number;
  chatId: number | string;
  text: string;
  /** `reply_parameters.message_id` (or the older `reply_to_message_id`), when given. */
  replyToMessageId?: number;
}

interface StoredFile extends DoubleFile {
  length: number;
  /** Current path, reused by getFile until it expires, as the real API does. */
  path?: IssuedPath;
}

interface IssuedPath {
  filePath: string;
  fileId: string;
  expiresAt: number;
  expired: boolean;
}

const MB = 1024 * 1024;
const PATTERN = Buffer.alloc(64 * 1024, 'rehost-bot-api-double/');

/** `123456789:AA…` with a 35-character secret, like BotFather's. */
function generateToken(): string {
  return `${randomInt(100_000_000, 2_000_000_000)}:AA${randomBytes(33).toString('base64url').slice(0, 33)}`;
}

function patternBody(size: number): Readable {
  let left = size;
  return new Readable({
    highWaterMark: PATTERN.length,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, code: number, description: string, parameters?: Record<string, unknown>): void {
  const headers: Record<string, string> = {};
  if (parameters?.retry_after !== undefined) headers['retry-after'] = String(parameters.retry_after);
  sendJson(res, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) }, headers);
}

/** What nginx in front of the Bot API sends on 502/503: HTML, not the JSON envelope. */
function sendGatewayError(res: ServerResponse, status: 502 | 503): void {
  const title = status === 502 ? '502 Bad Gateway' : '503 Service Temporarily Unavailable';
  const html = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  res.writeHead(status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Telegram accepts parameters in the query string, as JSON, or as a urlencoded form. */
async function readParams(req: IncomingMessage, url: URL): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  if (req.method !== 'POST') return params;
  const text = await readBody(req);
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/json') && text.trim() !== '') {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') Object.assign(params, parsed);
  } else if (type.includes('application/x-www-form-urlencoded')) {
    Object.assign(params, Object.fromEntries(new URLSearchParams(text)));
  }
  return params;
}

export async function startBotApiDouble(opts: BotApiDoubleOptions = {}): Promise<BotApiDouble> {
  const tokens = opts.tokens && opts.tokens.length > 0 ? [...opts.tokens] : [generateToken()];
  const tokenSet = new Set(tokens);
  const ttlMs = opts.filePathTtlMs ?? 60 * 60 * 1000;
  const maxDownloadBytes = opts.maxDownloadBytes ?? (opts.local ? 2000 * MB : 20 * MB);
  const localDir = opts.local ? await mkdtemp(path.join(tmpdir(), 'rehost-bot-api-local-')) : undefined;

  const files = new Map<string, StoredFile>();
  const paths = new Map<string, IssuedPath>();
  const faults: Record<'getFile' | 'download', DoubleFault[]> = { getFile: [], download: [] };
  const stats: BotApiDouble['stats'] = { getFile: 0, downloads: 0, downloadsByFileId: new Map(), bytesServed: 0, localWrites: 0 };
  const requests: string[] = [];
  const messages: SentMessage[] = [];
  let pathCounter = 0;

  const redactPath = (rawPath: string): string =>
    rawPath.replace(/^(\/(?:file\/)?bot|\/local-files\/)([^/]*)/, (_m, prefix: string, token: string) =>
      `${prefix}${tokenSet.has(decodeURIComponent(token)) ? '<token>' : '<invalid-token>'}`,
    );

  /** Applies a fault to `res`; `body` is what a healthy answer would have sent (for cuts). */
  function applyFault(res: ServerResponse, fault: DoubleFault, body: () => { length: number; stream: () => Readable }): void {
    if ('cutAfterBytes' in fault) {
      const { length, stream } = body();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': length });
      let left = Math.min(fault.cutAfterBytes, length);
      // Once the last byte before the cut is flushed, drop the connection: the client sees a short body.
      if (left === 0) {
        res.write(Buffer.alloc(0), () => res.destroy());
        return;
      }
      const source = stream();
      source.on('data', (chunk: Buffer) => {
        const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
        left -= part.length;
        stats.bytesServed += part.length;
        if (left > 0) {
          if (!res.write(part)) {
            source.pause();
            res.once('drain', () => source.resume());
          }
          return;
        }
        source.destroy();
        res.write(part, () => res.destroy());
      });
      source.on('error', () => res.destroy());
      res.on('close', () => source.destroy());
      return;
    }
    if (fault.status === 429) {
      sendError(res, 429, `Too Many Requests: retry after ${fault.retryAfter}`, { retry_after: fault.retryAfter });
    } else if (fault.status === 404) {
      sendError(res, 404, 'Not Found');
    } else if (fault.status === 400) {
      sendError(res, 400, fault.description);
    } else if (fault.status === 500) {
      sendError(res, 500, 'Internal Server Error');
    } else {
      sendGatewayError(res, fault.status);
    }
  }

  /**
   * Local mode: the file written under the working directory, as the local server does before it
   * answers; `vanish` answers a path whose file is not there.
   */
  async function issueLocalPath(file: StoredFile, token: string, vanish: boolean): Promise<string> {
    if (file.filePath) return file.filePath;
    const current = file.path;
    if (current && !current.expired && !vanish) return current.filePath;
    if (current) current.expired = true;
    pathCounter += 1;
    const filePath = path.join(localDir!, token, 'photos', `file_${pathCounter}.jpg`);
    if (!vanish) {
      await mkdir(path.dirname(filePath), { recursive: true });
      await pipeline(fileBody(file), createWriteStream(filePath));
      stats.localWrites += 1;
    }
    const issued: IssuedPath = { filePath, fileId: file.fileId, expiresAt: Number.POSITIVE_INFINITY, expired: vanish };
    file.path = issued;
    return filePath;
  }

  function issuePath(file: StoredFile): IssuedPath {
    const current = file.path;
    if (current && !current.expired && current.expiresAt > Date.now()) return current;
    if (current) current.expired = true;
    pathCounter += 1;
    const issued: IssuedPath = {
      filePath: `photos/file_${pathCounter}.jpg`,
      fileId: file.fileId,
      expiresAt: Date.now() + ttlMs,
      expired: false,
    };
    paths.set(issued.filePath, issued);
    file.path = issued;
    return issued;
  }

  function fileBody(file: StoredFile): Readable {
    if (file.bytes) return Readable.from([file.bytes], { objectMode: false });
    return file.body ? file.body() : patternBody(file.length);
  }

  async function handleMethod(req: IncomingMessage, res: ServerResponse, url: URL, method: string, token: string): Promise<void> {
    if (method === 'getMe') {
      return sendJson(res, 200, {
        ok: true,
        result: { id: Number(tokens[0]!.split(':')[0]) || 1, is_bot: true, first_name: 'Rehost Double', username: 'rehost_double_bot' },
      });
    }
    if (method === 'sendMessage') return handleSendMessage(req, res, url);
    if (method !== 'getFile') return sendError(res, 404, 'Not Found');
    stats.getFile += 1;
    const fault = faults.getFile.shift();
    if (fault) {
      const partial = Buffer.from(JSON.stringify({ ok: true, result: { file_id: 'x'.repeat(64) } }));
      return applyFault(res, fault, () => ({ length: partial.length, stream: () => Readable.from([partial]) }));
    }
    let params: Record<string, unknown>;
    try {
      params = await readParams(req, url);
    } catch {
      return sendError(res, 400, "Bad Request: can't parse JSON object");
    }
    const fileId = typeof params.file_id === 'string' ? params.file_id : '';
    if (fileId === '') return sendError(res, 400, 'Bad Request: file_id not specified');
    const file = files.get(fileId);
    if (!file) return sendError(res, 400, 'Bad Request: invalid file_id');
    await opts.beforeGetFile?.(fileId);
    if (file.length > maxDownloadBytes) return sendError(res, 400, 'Bad Request: file is too big');
    let filePath: string;
    if (localDir) {
      const vanish = faults.download[0] !== undefined && 'status' in faults.download[0] && faults.download[0].status === 404;
      if (vanish) faults.download.shift();
      filePath = await issueLocalPath(file, token, vanish);
    } else {
      filePath = issuePath(file).filePath;
    }
    return sendJson(res, 200, {
      ok: true,
      result: { file_id: file.fileId, file_unique_id: file.fileUniqueId, file_size: file.length, file_path: filePath },
    });
  }

  /** Records the message and answers with a Message object, as Telegram does. */
  async function handleSendMessage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let params: Record<string, unknown>;
    try {
      params = await readParams(req, url);
    } catch {
      return sendError(res, 400, "Bad Request: can't parse JSON object");
    }
    const chatId = params.chat_id;
    if (typeof chatId !== 'number' && (typeof chatId !== 'string' || chatId === '')) return sendError(res, 400, 'Bad Request: chat_id is empty');
    if (typeof params.text !== 'string' || params.text.trim() === '') return sendError(res, 400, 'Bad Request: message text is empty');
    const replyParams = (typeof params.reply_parameters === 'string' ? JSON.parse(params.reply_parameters) : params.reply_parameters) as
      | { message_id?: number }
      | undefined;
    const replyTo = replyParams?.message_id ?? (params.reply_to_message_id === undefined ? undefined : Number(params.reply_to_message_id));
    const sent: SentMessage = { messageId: messages.length + 1, chatId, text: params.text, ...(replyTo === undefined ? {} : { replyToMessageId: replyTo }) };
    messages.push(sent);
    const numericChat = Number(chatId);
    return sendJson(res, 200, {
      ok: true,
      result: {
        message_id: sent.messageId,
        date: Math.floor(Date.now() / 1000),
        chat: Number.isFinite(numericChat) ? { id: numericChat, type: 'private' } : { id: 0, type: 'channel', username: String(chatId) },
        from: { id: Number(tokens[0]!.split(':')[0]) || 1, is_bot: true, first_name: 'Rehost Double', username: 'rehost_double_bot' },
        text: sent.text,
      },
    });
  }

  function handleDownload(res: ServerResponse, filePath: string): void {
    const issued = paths.get(filePath);
    const file = issued ? files.get(issued.fileId) : undefined;
    stats.downloads += 1;
    if (file) stats.downloadsByFileId.set(file.fileId, (stats.downloadsByFileId.get(file.fileId) ?? 0) + 1);
    const fault = faults.download.shift();
    if (fault && !(file === undefined && 'cutAfterBytes' in fault)) {
      applyFault(res, fault, () => ({ length: file!.length, stream: () => fileBody(file!) }));
      return;
    }
    if (!issued || !file || issued.expired || issued.expiresAt <= Date.now()) {
      sendError(res, 404, 'Not Found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length });
    if (file.bytes) {
      stats.bytesServed += file.bytes.length;
      res.end(file.bytes);
      return;
    }
    const body = fileBody(file);
    body.on('data', (chunk: Buffer) => {
      stats.bytesServed += chunk.length;
    });
    body.on('error', () => res.destroy());
    res.on('close', () => body.destroy());
    body.pipe(res);
  }

  /** The static server in front of the local working directory (no Bot API semantics, like nginx). */
  async function handleLocalFile(res: ServerResponse, rel: string): Promise<void> {
    const full = path.resolve(localDir!, rel);
    stats.downloads += 1;
    const fault = faults.download.shift();
    let size: number;
    try {
      if (!full.startsWith(localDir! + path.sep)) throw new Error('outside');
      const st = await stat(full);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    if (fault) {
      applyFault(res, fault, () => ({ length: size, stream: () => createReadStream(full) }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    const body = createReadStream(full);
    body.on('data', (chunk) => {
      stats.bytesServed += chunk.length;
    });
    body.on('error', () => res.destroy());
    res.on('close', () => body.destroy());
    body.pipe(res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawPath = req.url ?? '/';
    requests.push(`${req.method ?? 'GET'} ${redactPath(rawPath)}`);
    const url = new URL(rawPath, 'http://double.invalid');
    if (localDir && url.pathname.startsWith('/local-files/')) {
      return handleLocalFile(res, url.pathname.slice('/local-files/'.length).split('/').map(decodeURIComponent).join('/'));
    }
    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    const call = download ? undefined : /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    const token = decodeURIComponent((download ?? call)?.[1] ?? '');
    if (!download && !call) return sendError(res, 404, 'Not Found');
    if (!tokenSet.has(token)) return sendError(res, 401, 'Unauthorized');
    if (download) return handleDownload(res, decodeURIComponent(download[2]!));
    return handleMethod(req, res, url, call![2]!, token);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });
  // Benchmark clients keep connections alive between hundreds of downloads a second.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    ...(localDir ? { localDir, localFilesBaseUrl: `http://127.0.0.1:${port}/local-files` } : {}),
    token: tokens[0]!,
    tokens,
    stats,
    requests,
    messages,
    addFile(f) {
      const length = f.bytes?.length ?? f.size;
      if (length === undefined) throw new Error(`addFile(${f.fileId}): give bytes or size`);
      files.set(f.fileId, { ...f, length });
    },
    failNext(method, n, how) {
      for (let i = 0; i < n; i++) faults[method].push(how);
    },
    async expireFilePaths() {
      for (const issued of paths.values()) issued.expired = true;
      if (!localDir) return;
      // A restarted or cleaned-up local server: the files are gone, getFile writes them anew.
      for (const file of files.values()) {
        if (!file.path || file.filePath) continue;
        file.path.expired = true;
        await rm(file.path.filePath, { force: true });
      }
    },
    async close() {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      if (localDir) await rm(localDir, { recursive: true, force: true });
    },
  };
}
