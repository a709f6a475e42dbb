/**
 * The environment of CONTRACT.md §2 as zod pieces. Each app composes the pieces it
 * needs and parses them once at boot (see `loadConfig`); afterwards numbers are
 * numbers and booleans are booleans.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a ${protocols.join(' or ')} URL` },
  );

function isHttpUrl(v: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

const csv = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/**
 * A list that must name at least one entry once blanks are dropped: for allowlists, where an
 * empty list would read as "no restriction". A set-but-blank value (`" "`, `","`) is an error,
 * never "any host".
 */
const nonEmptyCsv = csv.refine((list) => list.length > 0, { message: 'must name at least one entry (it is blank, which would allow any host)' });

export const runtimeEnv = z.object({
  /** `production` makes missing secrets fatal and logs JSON. @defaultValue development */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const databaseEnv = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgresql://postgres@127.0.0.1:5432/rehost'),
  /**
   * PostgreSQL connections per process. Unset: 4 for the API (a request makes one short
   * statement; more connections only queue more commits behind the same WAL flush — measured in
   * docs/BENCHMARKS.md), WORKER_CONCURRENCY + 2 (at least 4) for a worker.
   */
  DATABASE_POOL_SIZE: int(1, 200).optional(),
});

export const redisEnv = z.object({
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /**
   * Key prefix of every queue. The braces are a Redis Cluster hash tag: all of a
   * queue's keys land in one slot. Stored in Redis: change only with a migration plan.
   * @defaultValue {rehost}
   */
  QUEUE_PREFIX: z.string().min(1).default('{rehost}'),
});

export const s3Env = z.object({
  S3_ENDPOINT: url(['http:', 'https:']).optional(),
  S3_REGION: z.string().min(1).default('auto'),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected a valid bucket name')
    .default('rehost'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** Origin serving the bucket publicly; permanent URL = PUBLIC_BASE_URL + "/" + key. */
  PUBLIC_BASE_URL: url(['http:', 'https:'])
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
  /** Origins allowed to PUT to pre-signed URLs (CORS rule the app sets on dev buckets). */
  UPLOAD_CORS_ORIGINS: csv.default(['*']),
  /** Multipart part size for streamed uploads (R2 wants equal parts; min 5 MiB). @defaultValue 8 MiB */
  S3_PART_SIZE_BYTES: int(5 * 1024 * 1024).default(8 * 1024 * 1024),
  /** Create the bucket, its CORS rule and public-read policy at start-up (dev/embedded store only). @defaultValue false */
  S3_ENSURE_BUCKET: bool.default(false),
  /** Parts in flight per streamed upload. @defaultValue 4 */
  S3_QUEUE_SIZE: int(1, 64).default(4),
  /**
   * Canned ACL signed into pre-signed upload URLs (`x-amz-acl`, sent by the client as given), so a
   * client cannot make its unverified upload public. `none` signs no ACL (for a store that refuses
   * the header; R2 has no ACLs, see README). @defaultValue private
   */
  S3_PRESIGN_ACL: z.enum(['private', 'none']).default('private'),
});

export const limitsEnv = z.object({
  MAX_UPLOAD_BYTES: int(1, 2 ** 31 - 1).default(20 * 1024 * 1024),
  /** Largest decoded image (width × height) accepted: decompression-bomb guard. @defaultValue 100 megapixels */
  MAX_IMAGE_PIXELS: int(1).default(100_000_000),
  UPLOAD_URL_TTL_SECONDS: int(1, 7 * 24 * 3600).default(900),
  /** Hosts that `url` sources may name; never empty (a blank value stops start-up). @defaultValue api.telegram.org */
  REHOST_URL_ALLOWED_HOSTS: nonEmptyCsv.default(['api.telegram.org']),
  /** Hosts that url sources may reach even in private address space (tests, internal mirrors). */
  REHOST_URL_TRUSTED_PRIVATE_HOSTS: csv.default([]),
  /** Per-owner quotas (requests with an ownerId only); unset = unlimited. */
  OWNER_MAX_ASSETS: int(0).optional(),
  OWNER_MAX_BYTES: int(0).optional(),
});

export const analysisEnv = z.object({
  /**
   * Analyse every image once it is ready (placeholder, dominant colour, pHash: the `analyze`
   * queue). Off, no analysis is enqueued; `pnpm rehost analyze` fills the facts later. @defaultValue true
   */
  ANALYZE_IMAGES: bool.default(true),
  /**
   * Images larger than this are not analysed (their facts stay null, `too_large`): an analysis holds
   * the encoded image in memory (sharp needs it whole). @defaultValue 64 MiB
   */
  ANALYZE_MAX_BYTES: int(1).default(64 * 1024 * 1024),
});

/**
 * `name=token` pairs; tokens contain ':' so '=' separates. A value may end in `@origin` (a bot
 * served by another Bot API server, e.g. a local one): `big=123:AA…@http://telegram-bot-api:8081`.
 */
const botList = z.string().transform((v, ctx) => {
  const bots: Record<string, string> = {};
  for (const pair of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0 || i === pair.length - 1) {
      // Never echo the value: it holds tokens.
      ctx.addIssue({ code: 'custom', message: 'expected name=token pairs separated by commas' });
      return z.NEVER;
    }
    const value = pair.slice(i + 1);
    const at = value.indexOf('@');
    if (at >= 0 && (at === 0 || !isHttpUrl(value.slice(at + 1)))) {
      ctx.addIssue({ code: 'custom', message: `bot "${pair.slice(0, i)}": expected token@http(s)://origin` });
      return z.NEVER;
    }
    bots[pair.slice(0, i)] = at >= 0 ? `${value.slice(0, at)}@${value.slice(at + 1).replace(/\/+$/, '')}` : value;
  }
  return bots;
});

export const telegramEnv = z.object({
  TELEGRAM_BOT_TOKEN: z.string().min(1).optional(),
  /** More bots by name, `source.bot` picks one: `name=token,name2=token2`. */
  TELEGRAM_BOTS: botList.default({}),
  TELEGRAM_API_BASE_URL: url(['http:', 'https:'])
    .transform((v) => v.replace(/\/+$/, ''))
    .default('https://api.telegram.org'),
  /**
   * How long a Bot API call may take (and a download's wait for its headers). A local Bot API
   * server answers getFile only once it has fetched the file from Telegram: raise this for big
   * files there (minutes for 2000 MB). @defaultValue 10000
   */
  TELEGRAM_REQUEST_TIMEOUT_MS: int(100).default(10_000),
  /** Bot API calls per second per bot, shared by all workers (Redis window); `url` sources are not held to it. @defaultValue 25 */
  TELEGRAM_RATE_PER_SECOND: int(1).default(25),
  /**
   * A local Bot API server's working directory as this process sees it (a mounted volume): its
   * getFile answers absolute paths, read from here. Paths escaping it (`..`, symlinks) are refused.
   */
  TELEGRAM_LOCAL_FILES_DIR: z.string().refine((v) => v.startsWith('/'), { message: 'expected an absolute path' }).optional(),
  /** Or a static file server whose root is that working directory. */
  TELEGRAM_LOCAL_FILES_BASE_URL: url(['http:', 'https:'])
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
  /**
   * The working directory as the local server names it in its answers (its `--dir`); paths are
   * taken relative to it. @defaultValue TELEGRAM_LOCAL_FILES_DIR, else /var/lib/telegram-bot-api
   */
  TELEGRAM_LOCAL_SERVER_DIR: z.string().refine((v) => v.startsWith('/'), { message: 'expected an absolute path' }).optional(),
});

export const apiEnv = z.object({
  API_PORT: int(0, 65535).default(3000),
  API_HOST: z.string().default('0.0.0.0'),
  /** Bearer tokens accepted on /v1. Without one the API refuses to start unless API_ALLOW_ANONYMOUS=true. */
  API_TOKENS: csv.default([]),
  /** Let /v1 run without API_TOKENS (an explicit opt-in; never implied by a missing variable). @defaultValue false */
  API_ALLOW_ANONYMOUS: bool.default(false),
  /** Serve the /demo upload page and its same-origin endpoints (`./dev.sh` turns it on). @defaultValue false */
  DEMO_PAGE: bool.default(false),
  /**
   * Longest time a client may take to send one whole request (headers and body); the connection is
   * closed with a 408 after it. Long-polls are not affected (their request is complete at once).
   * @defaultValue 30000
   */
  API_REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
  /** Longest time a client may take to send the request headers (at most API_REQUEST_TIMEOUT_MS). @defaultValue 10000 */
  API_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Refuse new rehosts with 429 past this many waiting jobs. @defaultValue 100000 */
  MAX_QUEUE_DEPTH: int(1).default(100_000),
});

export const workerEnv = z.object({
  WORKER_CONCURRENCY: int(1, 1000).default(8),
  /** How long a job's lock lasts without renewal; a killed worker's jobs are retaken after about this. @defaultValue 30000 */
  WORKER_LOCK_DURATION_MS: int(1000).default(30_000),
  /** How often stalled jobs (their worker died) are looked for. @defaultValue 30000 */
  WORKER_STALLED_INTERVAL_MS: int(500).default(30_000),
  /** Grace for running jobs on SIGTERM before the worker exits anyway. @defaultValue 25000 */
  WORKER_SHUTDOWN_GRACE_MS: int(0).default(25_000),
  /** Connect/idle timeouts for url sources. */
  FETCH_CONNECT_TIMEOUT_MS: int(100).default(5_000),
  FETCH_IDLE_TIMEOUT_MS: int(100).default(15_000),
  /**
   * How long a request for a Telegram file that another asset is storing right now waits for it
   * (re-checking with growing delays, no attempt used up) before it is retried like any failure. @defaultValue 1800
   */
  FOLLOWER_MAX_WAIT_SECONDS: int(1).default(1800),

  /**
   * `strip`: stored images carry no location or personal metadata (EXIF but its orientation, XMP,
   * IPTC, comments, text chunks, trailing data); orientation and colour profile stay, pixels are
   * never re-encoded. `keep`: the bytes are stored exactly as received.
   * @defaultValue strip
   */
  METADATA_POLICY: z.enum(['strip', 'keep']).default('strip'),

  /** Port of the worker's /metrics and /healthz (0 disables). @defaultValue 3002 */
  WORKER_METRICS_PORT: int(0, 65535).default(3002),
});

/** The maintenance sweeper (worker): expiry of abandoned uploads, stuck jobs, stray multipart uploads, orphan report. */
export const maintenanceEnv = z.object({
  /** How often each maintenance task runs (BullMQ job schedulers, registered at worker start; 0 turns them off). @defaultValue 60000 */
  MAINTENANCE_INTERVAL_MS: int(0).default(60_000),
  /** A pending upload is expired this long after its pre-signed URL has expired. @defaultValue 3600 */
  UPLOAD_EXPIRY_GRACE_SECONDS: int(0).default(3600),
  /** An asset `queued`/`processing` this long without a live job is re-enqueued (failed after a few re-enqueues). @defaultValue 900 */
  STUCK_AFTER_SECONDS: int(1).default(900),
  /** Unfinished multipart uploads older than this are aborted (a killed worker's parts). @defaultValue 86400 */
  MULTIPART_MAX_AGE_SECONDS: int(1).default(86_400),
  /**
   * `sweep-staging` removes a staging object whose asset failed, expired, was deleted or is unknown
   * once the object is this old (a `ready` asset's at once; a pending or processing one's never). @defaultValue 600
   */
  STAGING_SWEEP_MIN_AGE_SECONDS: int(0).default(600),
});

export const dashboardEnv = z.object({
  DASHBOARD_PORT: int(0, 65535).default(3001),
  DASHBOARD_USER: z.string().min(1).optional(),
  DASHBOARD_PASSWORD: z.string().min(1).optional(),
  DASHBOARD_READ_ONLY: bool.default(false),
});

export const webhookEnv = z.object({
  WEBHOOK_SIGNING_SECRET: z.string().min(16).optional(),
  /** Hosts callbacks may target even if they resolve to private space (operator allowlist). */
  WEBHOOK_ALLOWED_HOSTS: csv.default([]),
});

/** Public origin; defaults to the bucket itself, path-style (dev and tests serve i/* anonymously). */
export function resolvePublicBaseUrl(c: Pick<S3Env, 'PUBLIC_BASE_URL' | 'S3_ENDPOINT' | 'S3_REGION' | 'S3_BUCKET'>): string {
  return c.PUBLIC_BASE_URL ?? `${(c.S3_ENDPOINT ?? `https://s3.${c.S3_REGION}.amazonaws.com`).replace(/\/+$/, '')}/${c.S3_BUCKET}`;
}

export type RuntimeEnv = z.infer<typeof runtimeEnv>;
export type DatabaseEnv = z.infer<typeof databaseEnv>;
export type RedisEnv = z.infer<typeof redisEnv>;
export type S3Env = z.infer<typeof s3Env>;
export type LimitsEnv = z.infer<typeof limitsEnv>;
export type TelegramEnv = z.infer<typeof telegramEnv>;
export type ApiEnv = z.infer<typeof apiEnv>;
export type WorkerEnv = z.infer<typeof workerEnv>;
export type DashboardEnv = z.infer<typeof dashboardEnv>;
export type MaintenanceEnv = z.infer<typeof maintenanceEnv>;
export type WebhookEnv = z.infer<typeof webhookEnv>;

/** Names whose values are secret: never logged, never echoed in an error. */
export const SECRET_ENV_NAMES = [
  'S3_SECRET_ACCESS_KEY',
  'S3_ACCESS_KEY_ID',
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_BOTS',
  'API_TOKENS',
  'DASHBOARD_PASSWORD',
  'WEBHOOK_SIGNING_SECRET',
  'DATABASE_URL',
  'REDIS_URL',
] as const;
