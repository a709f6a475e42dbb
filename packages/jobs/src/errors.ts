/**
 * One error type with a code from a closed set. Workers throw these; only the API's
 * error handler maps codes to HTTP statuses; the client re-creates them from bodies.
 */
export const ERROR_CODES = [
  // request problems (API)
  'bad_request',
  'unauthorized',
  'quota_exceeded',
  'not_found',
  'conflict',
  'idempotency_conflict',
  'asset_deleted',
  'not_analyzed',
  'unsupported_type',
  'too_large',
  'rate_limited',
  // verification (worker; stored on failed assets)
  'object_missing',
  'length_mismatch',
  'not_an_image',
  'truncated_image',
  'too_many_pixels',
  'upload_expired',
  // sources
  'telegram_file_too_big',
  'telegram_invalid_file',
  'telegram_unavailable',
  'telegram_file_mismatch',
  'bot_not_configured',
  'url_not_allowed',
  'source_unavailable',
  // infrastructure
  'store_unavailable',
  'internal',
  // the API's edge: a request not received in time (408); a backing service down (503 + Retry-After)
  'request_timeout',
  'unavailable',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AppErrorOptions {
  /** Permanent errors fail the job at once; others are retried with backoff. */
  permanent?: boolean;
  /** Seconds the caller should wait before retrying (429s). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly permanent: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, opts: AppErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.permanent = opts.permanent ?? false;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

const permanent = (code: ErrorCode, message: string) => new AppError(code, message, { permanent: true });

/** Small factories so each message is written once. */
export const errors = {
  badRequest: (message: string) => permanent('bad_request', message),
  unauthorized: () => permanent('unauthorized', 'missing or invalid bearer token'),
  notFound: (what: string) => permanent('not_found', `${what} not found`),
  conflict: (message: string) => permanent('conflict', message),
  unsupportedType: (type: string, allowed: readonly string[]) =>
    permanent('unsupported_type', `content type ${JSON.stringify(type)} is not accepted; allowed: ${allowed.join(', ')}`),
  tooLarge: (size: number, max: number) => permanent('too_large', `${size} bytes exceeds the limit of ${max} bytes`),
  rateLimited: (retryAfterSeconds: number) =>
    new AppError('rate_limited', `too many queued jobs; retry after ${retryAfterSeconds} s`, { permanent: true, retryAfterSeconds }),
  objectMissing: () => permanent('object_missing', 'no object was uploaded for this asset'),
  lengthMismatch: (actual: number, declared: number) =>
    permanent('length_mismatch', `uploaded object has ${actual} bytes, ${declared} were declared`),
  notAnImage: (detail: string) => permanent('not_an_image', `content is not an accepted image (${detail})`),
  truncatedImage: (type: string) => permanent('truncated_image', `the ${type} data is incomplete`),
  tooManyPixels: (w: number, h: number, max: number) =>
    permanent('too_many_pixels', `image is ${w}x${h} pixels, more than the limit of ${max}`),
  quotaExceeded: (ownerId: string, limit: 'assets' | 'bytes') =>
    permanent(
      'quota_exceeded',
      limit === 'assets'
        ? `owner ${JSON.stringify(ownerId)} has as many assets as OWNER_MAX_ASSETS allows; delete some first`
        : `owner ${JSON.stringify(ownerId)} has stored as many bytes as OWNER_MAX_BYTES allows; delete some first`,
    ),
  idempotencyConflict: () =>
    permanent('idempotency_conflict', 'this idempotencyKey was used with a different request body; use a new key for a new request'),
  assetDeleted: (assetId: string) =>
    permanent('asset_deleted', `the request with this idempotencyKey created asset ${assetId}, which has been deleted; use a new key to store the file again`),
  telegramFileMismatch: (claimed: string, actual: string) =>
    permanent(
      'telegram_file_mismatch',
      `fileUniqueId ${JSON.stringify(claimed)} was given, but getFile answered ${JSON.stringify(actual)} for this fileId`,
    ),
  notAnalyzed: (reason: string) => permanent('not_analyzed', `no perceptual hash to compare: ${reason}`),
  uploadExpired: () => permanent('upload_expired', 'the upload was never completed before its URL expired'),
  storeUnavailable: (op: string, cause?: unknown) =>
    new AppError('store_unavailable', `object store failed during ${op}`, { cause }),
  internal: (message = 'internal error') => new AppError('internal', message),
};

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
