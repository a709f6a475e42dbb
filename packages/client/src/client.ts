import {
  type AssetStatus,
  type AssetView,
  assetPage,
  assetView,
  type ErasureView,
  erasureStarted,
  erasureView,
  type OwnerUsage,
  ownerUsage,
  ASSET_STATUSES,
  errorBody,
  TERMINAL_STATUSES,
} from '@rehost/jobs/schemas';
import { z } from 'zod';
import { AssetFailedError, NetworkError, RehostApiError, WaitTimeoutError } from './errors.js';
import { backoffDelay, isRetryableStatus, parseRetryAfter, sleep } from './retry.js';

export interface RehostClientOptions {
  /** Origin of the rehost API, e.g. `https://rehost.example.com`. */
  baseUrl: string;
  /** A bearer token from the API's API_TOKENS. */
  token: string;
  /** Retries of one call after a 5xx, a 429 or a network error (0 disables). @defaultValue 3 */
  retries?: number;
  /** The fetch to use (tests, proxies, other runtimes). @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Limit for one request (long-polls get their own wait on top). @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** First retry delay; doubles per retry, with full jitter. @defaultValue 250 */
  retryBaseDelayMs?: number;
  /** Longest backoff between two retries. @defaultValue 10000 */
  retryMaxDelayMs?: number;
  /** A Retry-After longer than this is not waited out: the call fails with the server's error. @defaultValue 60000 */
  maxRetryAfterMs?: number;
  /** Called before each retry (logging, metrics). */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  method: string;
  path: string;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** The HTTP status, or undefined for a network error. */
  status: number | undefined;
}

export interface CreateUploadInput {
  contentType: string;
  size: number;
  filename?: string;
  ownerId?: string;
  metadata?: Record<string, unknown>;
}

export interface CreatedUpload {
  assetId: string;
  /** PUT the bytes here with exactly these headers before `upload.expiresAt`. */
  upload: { url: string; method: 'PUT'; headers: Record<string, string>; expiresAt: string };
}

export interface WaitOptions {
  /** Overall limit, across as many long-polls as it takes. @defaultValue 60000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EnqueueOptions {
  ownerId?: string;
  /**
   * A second enqueue with the same key returns the first asset instead of creating one.
   * @defaultValue a fresh crypto.randomUUID() per call, reused across that call's retries
   */
  idempotencyKey?: string;
  /** Receives a signed POST with the final asset view (see verifyWebhook). */
  callbackUrl?: string;
  metadata?: Record<string, unknown>;
  /** Resolve only when the asset is ready (reject with AssetFailedError when it fails). */
  wait?: boolean;
  /** With `wait`: the overall limit. @defaultValue 60000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface TelegramRehostOptions extends EnqueueOptions {
  /** Lets the server answer at once when the same file is already stored. */
  fileUniqueId?: string;
  /** Name of a bot configured on the server. @defaultValue "default" */
  bot?: string;
}

/** What an enqueue answers: the asset id and its status; `asset` when it was already terminal. */
export interface ListAssetsFilter {
  ownerId?: string;
  status?: AssetStatus;
  sourceType?: 'telegram' | 'upload' | 'url';
  /** Page size, 1–200. @defaultValue 50 */
  limit?: number;
}

const similarPage = z.object({ items: z.array(assetView.extend({ distance: z.number() })) });
/** An asset that shows the same picture, with the Hamming distance of the perceptual hashes. */
export type SimilarAsset = AssetView & { distance: number };
export type { OwnerUsage };
export type Erasure = ErasureView;

export interface RehostAccepted {
  assetId: string;
  status: AssetStatus;
  /** Present when the server answered with an existing asset (200): no new job ran. */
  asset?: AssetView;
}

const accepted = z.object({ assetId: z.string(), status: z.enum(ASSET_STATUSES) });
const existing = assetView.extend({ assetId: z.string() });
const createdUpload = z.object({
  assetId: z.string(),
  upload: z.object({ url: z.string(), method: z.literal('PUT'), headers: z.record(z.string(), z.string()), expiresAt: z.string() }),
});
const errorResponse = z.object({ error: errorBody });

/** Longest single long-poll; the server caps it at 120 s. */
const LONG_POLL_MS = 30_000;
/** Added to a long-poll's own timeout before the client gives up on the request. */
const LONG_POLL_SLACK_MS = 10_000;

interface RequestOptions<T> {
  body?: unknown;
  schema: z.ZodType<T>;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  /** A 404 on a retry means an earlier attempt already did it (DELETE). */
  notFoundOnRetryIsSuccess?: boolean;
}

const isTerminal = (s: AssetStatus) => TERMINAL_STATUSES.includes(s);

/**
 * Typed client for the rehost HTTP API. Calls are retried on 5xx, 429 (honouring
 * Retry-After) and network errors, with exponential backoff and jitter; enqueues carry an
 * idempotency key, so a retried enqueue can never create a second asset.
 */
export class RehostClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly retries: number;
  private readonly fetchFn: typeof fetch;
  private readonly requestTimeoutMs: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(opts: RehostClientOptions) {
    if (!opts.baseUrl) throw new TypeError('RehostClient: baseUrl is required');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.retries = Math.max(0, opts.retries ?? 3);
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('RehostClient: no fetch available; pass one as `fetch`');
    this.fetchFn = f;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.retryBaseDelayMs = opts.retryBaseDelayMs ?? 250;
    this.retryMaxDelayMs = opts.retryMaxDelayMs ?? 10_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.onRetry = opts.onRetry;
  }

  /** Asks for a pre-signed PUT URL (web uploads). */
  createUpload(input: CreateUploadInput, opts: { signal?: AbortSignal } = {}): Promise<CreatedUpload> {
    return this.request('POST', '/v1/uploads', { body: input, schema: createdUpload, signal: opts.signal });
  }

  /** Says the PUT is done; verification runs in the background (then use waitForAsset). Idempotent. */
  completeUpload(assetId: string, opts: { signal?: AbortSignal } = {}): Promise<{ assetId: string; status: AssetStatus }> {
    return this.request('POST', `/v1/uploads/${encodeURIComponent(assetId)}/complete`, { schema: accepted, signal: opts.signal });
  }

  /** Stores a Telegram file for good (server-side download with a configured bot). */
  rehostTelegramFile(fileId: string, opts: TelegramRehostOptions & { wait: true }): Promise<AssetView>;
  rehostTelegramFile(fileId: string, opts?: TelegramRehostOptions & { wait?: false }): Promise<RehostAccepted>;
  rehostTelegramFile(fileId: string, opts?: TelegramRehostOptions): Promise<AssetView | RehostAccepted>;
  rehostTelegramFile(fileId: string, opts: TelegramRehostOptions = {}): Promise<AssetView | RehostAccepted> {
    const source = {
      type: 'telegram' as const,
      fileId,
      ...(opts.fileUniqueId ? { fileUniqueId: opts.fileUniqueId } : {}),
      ...(opts.bot ? { bot: opts.bot } : {}),
    };
    return this.enqueue(source, opts);
  }

  /** Stores an image from a URL on the server's allow-list. */
  rehostUrl(url: string, opts: EnqueueOptions & { wait: true }): Promise<AssetView>;
  rehostUrl(url: string, opts?: EnqueueOptions & { wait?: false }): Promise<RehostAccepted>;
  rehostUrl(url: string, opts?: EnqueueOptions): Promise<AssetView | RehostAccepted>;
  rehostUrl(url: string, opts: EnqueueOptions = {}): Promise<AssetView | RehostAccepted> {
    return this.enqueue({ type: 'url' as const, url }, opts);
  }

  getAsset(assetId: string, opts: { signal?: AbortSignal } = {}): Promise<AssetView> {
    return this.request('GET', `/v1/assets/${encodeURIComponent(assetId)}`, { schema: assetView, signal: opts.signal });
  }

  /**
   * The same owner's assets showing the same picture: perceptual hash within `maxDistance` bits
   * (0–32, default 10), nearest first, at most `limit` (1–100, default 20). A 409 `not_analyzed`
   * (RehostApiError) means the asset's image facts are not there yet (or it could not be decoded).
   */
  async similarAssets(
    assetId: string,
    opts: { maxDistance?: number; limit?: number; signal?: AbortSignal } = {},
  ): Promise<SimilarAsset[]> {
    const query = new URLSearchParams();
    if (opts.maxDistance !== undefined) query.set('maxDistance', String(opts.maxDistance));
    if (opts.limit !== undefined) query.set('limit', String(opts.limit));
    const page = await this.request('GET', `/v1/assets/${encodeURIComponent(assetId)}/similar?${query}`, {
      schema: similarPage,
      signal: opts.signal,
    });
    return page.items;
  }

  /** Deletes an asset (its object too, unless another asset shares it). */
  async deleteAsset(assetId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.request('DELETE', `/v1/assets/${encodeURIComponent(assetId)}`, {
      schema: z.unknown(),
      signal: opts.signal,
      notFoundOnRetryIsSuccess: true,
    });
  }

  /**
   * Every asset matching the filter, newest first, page by page (keyset pages: no asset is
   * skipped or repeated while others are added or deleted during the walk).
   */
  async *listAssets(filter: ListAssetsFilter = {}, opts: { signal?: AbortSignal } = {}): AsyncGenerator<AssetView, void, undefined> {
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries({ ...filter, cursor })) if (v !== undefined && v !== null) query.set(k, String(v));
      const page: z.infer<typeof assetPage> = await this.request('GET', `/v1/assets?${query}`, { schema: assetPage, signal: opts.signal });
      yield* page.items;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** An owner's live assets, stored bytes and bytes reserved by uploads in flight. */
  getUsage(ownerId: string, opts: { signal?: AbortSignal } = {}): Promise<OwnerUsage> {
    return this.request('GET', `/v1/owners/${encodeURIComponent(ownerId)}/usage`, { schema: ownerUsage, signal: opts.signal });
  }

  /**
   * Erases every asset of an owner (DELETE's semantics per asset). With `wait`, polls the
   * erasure every `pollMs` (500) until it is done, for at most `timeoutMs` (600000), then
   * answers its state as it stands.
   */
  async eraseOwner(ownerId: string, opts: { wait?: boolean; pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Erasure> {
    const started = await this.request('DELETE', `/v1/owners/${encodeURIComponent(ownerId)}/assets`, { schema: erasureStarted, signal: opts.signal });
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      const state = await this.request('GET', `/v1/erasures/${started.erasureId}`, { schema: erasureView, signal: opts.signal });
      if (!opts.wait || state.status === 'done' || Date.now() >= deadline) return state;
      await sleep(opts.pollMs ?? 500, opts.signal);
    }
  }

  /**
   * Long-polls until the asset is terminal, over as many requests as `timeoutMs` allows.
   * Resolves with the ready asset; rejects with AssetFailedError (its error code) when it
   * failed or expired, WaitTimeoutError at the overall timeout, or the signal's reason.
   */
  async waitForAsset(assetId: string, opts: WaitOptions = {}): Promise<AssetView> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const overall = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, overall]) : overall;
    // Each long-poll ends a little before the deadline, so the last status seen is reported.
    const margin = Math.min(250, Math.max(10, timeoutMs / 10));
    let last: AssetStatus | undefined;
    try {
      for (;;) {
        const pollMs = Math.round(Math.min(LONG_POLL_MS, Math.max(0, deadline - Date.now() - margin)));
        const view = await this.request('GET', `/v1/assets/${encodeURIComponent(assetId)}/wait?timeoutMs=${pollMs}`, {
          schema: assetView,
          signal,
          timeoutMs: pollMs + LONG_POLL_SLACK_MS,
        });
        last = view.status;
        if (isTerminal(view.status)) return settle(view);
        if (deadline - Date.now() <= margin) throw new WaitTimeoutError(assetId, timeoutMs, last);
      }
    } catch (err) {
      if (overall.aborted && !opts.signal?.aborted && !(err instanceof RehostApiError) && !(err instanceof AssetFailedError)) {
        throw new WaitTimeoutError(assetId, timeoutMs, last);
      }
      throw err;
    }
  }

  private async enqueue(source: { type: 'telegram' | 'url' } & Record<string, unknown>, opts: EnqueueOptions) {
    const body = {
      source,
      // Fixed before the first attempt, so every retry of this call names the same asset.
      idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID(),
      ...(opts.ownerId !== undefined ? { ownerId: opts.ownerId } : {}),
      ...(opts.callbackUrl !== undefined ? { callbackUrl: opts.callbackUrl } : {}),
      ...(opts.metadata !== undefined ? { metadata: opts.metadata } : {}),
    };
    const started = Date.now();
    const answer = await this.request('POST', '/v1/rehost', { body, schema: z.union([existing, accepted]), signal: opts.signal });
    const result: RehostAccepted =
      'id' in answer
        ? { assetId: answer.assetId, status: answer.status, asset: stripAssetId(answer) }
        : { assetId: answer.assetId, status: answer.status };
    if (!opts.wait) return result;
    if (result.asset && isTerminal(result.asset.status)) return settle(result.asset);
    const timeoutMs = Math.max(0, (opts.timeoutMs ?? 60_000) - (Date.now() - started));
    return this.waitForAsset(result.assetId, { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  private async request<T>(method: string, path: string, opts: RequestOptions<T>): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.token}` };
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (payload !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 0; ; attempt++) {
      opts.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.requestTimeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let res: Response;
      try {
        res = await this.fetchFn(url, { method, headers, ...(payload === undefined ? {} : { body: payload }), signal });
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const reason = timeout.aborted ? 'timed out' : describe(err);
        const failure = new NetworkError(`${method} ${path} failed: ${reason}`, err);
        if (attempt >= this.retries) throw failure;
        await this.pause(method, path, attempt, undefined, undefined, opts.signal);
        continue;
      }

      if (res.ok) return this.parse(res, method, path, opts.schema);
      if (res.status === 404 && attempt > 0 && opts.notFoundOnRetryIsSuccess) {
        await res.body?.cancel();
        return undefined as T;
      }
      const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      const failure = await apiError(res, retryAfter);
      const waitOut = retryAfter === undefined || retryAfter * 1000 <= this.maxRetryAfterMs;
      if (!isRetryableStatus(res.status) || attempt >= this.retries || !waitOut) throw failure;
      await this.pause(method, path, attempt, res.status, retryAfter, opts.signal);
    }
  }

  private async pause(
    method: string,
    path: string,
    attempt: number,
    status: number | undefined,
    retryAfterSeconds: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const delayMs =
      retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : backoffDelay(attempt, this.retryBaseDelayMs, this.retryMaxDelayMs);
    this.onRetry?.({ method, path, retry: attempt + 1, delayMs, status });
    await sleep(delayMs, signal);
  }

  private async parse<T>(res: Response, method: string, path: string, schema: z.ZodType<T>): Promise<T> {
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new RehostApiError(res.status, 'bad_response', `${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new RehostApiError(res.status, 'bad_response', `${method} ${path} answered ${res.status} with an unexpected body: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }
}

function settle(view: AssetView): AssetView {
  if (view.status === 'ready') return view;
  throw new AssetFailedError(view);
}

function stripAssetId(answer: z.infer<typeof existing>): AssetView {
  const { assetId: _id, ...view } = answer;
  return view;
}

async function apiError(res: Response, retryAfter: number | undefined): Promise<RehostApiError> {
  const text = await res.text().catch(() => '');
  let parsed: z.infer<typeof errorResponse> | undefined;
  try {
    parsed = errorResponse.parse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  const code = parsed?.error.code ?? (res.status >= 500 ? 'internal' : 'bad_request');
  const message = parsed?.error.message ?? `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  return new RehostApiError(res.status, code, message, retryAfter);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
    return detail ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}


