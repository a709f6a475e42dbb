/**
 * Files of a local Bot API server (`telegram-bot-api --local`). Its getFile answers an absolute
 * path on its own disk (`<its --dir>/<token>/photos/file_0.jpg`) and serves no HTTP for files:
 * a bot reads the path from the server's working directory mounted into its own container, or
 * through a static file server in front of that directory.
 *
 * The path comes from another process: it is mapped into the mounted directory and refused when
 * it escapes it (`..`, a symlink pointing out), so a compromised or misconfigured server cannot
 * make the worker read any other file of this host.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { AppError } from '@rehost/jobs';

export interface LocalFilesOptions {
  /**
   * `TELEGRAM_LOCAL_FILES_DIR`: the local server's working directory as this process sees it
   * (a mounted volume). Read directly; preferred over `baseUrl` when both are set.
   */
  dir?: string;
  /** `TELEGRAM_LOCAL_FILES_BASE_URL`: a static file server whose root is the server's working directory. */
  baseUrl?: string;
  /**
   * `TELEGRAM_LOCAL_SERVER_DIR`: the working directory as the local server itself names it in its
   * answers (its `--dir`). @defaultValue `/var/lib/telegram-bot-api` (the usual images')
   */
  serverDir?: string;
}

export const DEFAULT_LOCAL_SERVER_DIR = '/var/lib/telegram-bot-api';

export const localFileErrors = {
  notConfigured: (bot: string) =>
    new AppError(
      'bot_not_configured',
      `bot "${bot}" is served by a local Bot API server (absolute file_path) but neither TELEGRAM_LOCAL_FILES_DIR nor TELEGRAM_LOCAL_FILES_BASE_URL is set`,
      { permanent: true },
    ),
  escapes: () =>
    new AppError('telegram_unavailable', "the local Bot API server's file_path lies outside its working directory; refused", {
      permanent: true,
    }),
  notAFile: () => new AppError('telegram_unavailable', "the local Bot API server's file_path is not a regular file; refused", { permanent: true }),
  vanishedTwice: () =>
    new AppError(
      'telegram_unavailable',
      'the file named by the local Bot API server is missing from TELEGRAM_LOCAL_FILES_DIR even after a fresh getFile (is the server\'s working directory mounted there?)',
      { permanent: true },
    ),
  readFailed: (code: string) => new AppError('telegram_unavailable', `reading the local Bot API server's file failed: ${code}`),
  sizeMismatch: (actual: number, expected: number) =>
    new AppError('telegram_unavailable', `the local Bot API server's file has ${actual} bytes, getFile announced ${expected}`),
};

/**
 * The path inside the server's working directory (POSIX, no leading slash), or undefined when
 * `filePath` is not inside it. `..` segments are resolved before the check.
 */
export function relativeLocalPath(filePath: string, serverDir: string): string | undefined {
  const rel = path.posix.relative(path.posix.resolve(serverDir), path.posix.resolve(filePath));
  if (rel === '' || rel === '..' || rel.startsWith('../') || path.posix.isAbsolute(rel)) return undefined;
  return rel;
}

/** The static server's URL for a path inside the working directory (each segment encoded). */
export function localFileUrl(baseUrl: string, rel: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`;
}

export const VANISHED = Symbol('vanished');

/**
 * Opens `rel` under `dir` for streaming, after resolving every symlink: the real path must still
 * lie inside the real `dir`. Resolves VANISHED when the file is not there (the server restarted
 * or cleaned up); rejects with a permanent AppError for a path that escapes or is not a file.
 */
export async function openLocalFile(dir: string, rel: string, expectedSize: number | undefined): Promise<Readable | typeof VANISHED> {
  let realDir: string;
  let real: string;
  try {
    realDir = await realpath(dir);
    real = await realpath(path.join(realDir, rel));
  } catch (err) {
    if (errCode(err) === 'ENOENT') return VANISHED;
    throw localFileErrors.readFailed(errCode(err));
  }
  if (!real.startsWith(realDir + path.sep)) throw localFileErrors.escapes();
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a final component swapped for a symlink after realpath is refused, not followed.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return VANISHED;
    if (errCode(err) === 'ELOOP') throw localFileErrors.escapes();
    throw localFileErrors.readFailed(errCode(err));
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw localFileErrors.notAFile();
    if (expectedSize !== undefined && st.size !== expectedSize) throw localFileErrors.sizeMismatch(st.size, expectedSize);
  } catch (err) {
    await handle.close();
    throw err instanceof AppError ? err : localFileErrors.readFailed(errCode(err));
  }
  const file = handle.createReadStream({ autoClose: true, highWaterMark: 256 * 1024 });
  // The caller's stream fails with our error: fs errors carry the path, which holds the bot's token
  // (the server's layout is <dir>/<token>/…).
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  file.on('error', (err) => out.destroy(localFileErrors.readFailed(errCode(err))));
  out.on('close', () => {
    if (!file.destroyed) file.destroy();
  });
  file.pipe(out);
  return out;
}

function errCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : 'unknown error';
}
