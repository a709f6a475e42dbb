import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { fetchErrors } from './fetch-errors.js';
import { GuardedBody } from './guarded-body.js';
import { type Resolver, resolveChecked, systemResolver } from './guarded-lookup.js';
import { checkTarget, type Target } from './host-policy.js';
import { sendRequest } from './send-request.js';

export interface SafeFetchOptions {
  /**
   * Hostnames allowed: exact and case-insensitive; a leading `*.` allows subdomains (not the
   * bare domain: list both). Empty = any host whose addresses are all public (webhooks).
   */
  allowedHosts: string[];
  /**
   * Hosts whose addresses are not checked, so they may be private or loopback (operator
   * allowlist; tests use it for 127.0.0.1 servers). Same matching as `allowedHosts`, which
   * still applies to them.
   */
  trustedPrivateHosts?: string[];
  /** Counted as the body streams; a larger declared Content-Length is refused before reading. */
  maxBytes: number;
  /** DNS, TCP connect and TLS handshake together. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the response headers after connecting, and for each next body chunk
   * while the caller is reading (time the caller spends not reading does not count).
   * @defaultValue 15000
   */
  idleTimeoutMs?: number;
  /** The whole call, redirects and body included. @defaultValue 120000 */
  totalTimeoutMs?: number;
  /** Redirects followed, each re-checked like the first URL. @defaultValue 3 */
  maxRedirects?: number;
  /** Aborting destroys the request or the body with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Test seam: resolves a name to all its addresses. The result is checked exactly like the
   * system's. @defaultValue getaddrinfo via `dns.lookup(name, { all: true })`
   */
  resolve?: Resolver;
}

export interface SafeStream {
  /** The body; errors with an `AppError` (too_large, source_unavailable) if it goes wrong midway. */
  stream: Readable;
  /** The URL the body came from, after redirects (query included: do not log it). */
  finalUrl: string;
  /** As declared by the origin; the stream enforces `maxBytes` whatever it says. */
  contentLength?: number;
  contentType?: string;
}

/** `maxRedirects` is accepted for symmetry but unused: POSTs never follow redirects. */
export type SafePostOptions = Omit<SafeFetchOptions, 'maxBytes'> & {
  /** Response body bytes read (and discarded) before the connection is closed. @defaultValue 65536 */
  maxResponseBytes?: number;
};

export type CheckUrlOptions = Pick<SafeFetchOptions, 'allowedHosts' | 'trustedPrivateHosts' | 'resolve'>;

const USER_AGENT = 'rehost-safe-fetch/0.1';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

interface Limits {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  resolve: Resolver;
}

function limitsOf(opts: Omit<SafeFetchOptions, 'maxBytes'>): Limits {
  const limits = {
    connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 15_000,
    totalTimeoutMs: opts.totalTimeoutMs ?? 120_000,
  };
  for (const [name, value] of Object.entries(limits)) positive(name, value);
  return { ...limits, resolve: opts.resolve ?? systemResolver };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

/** The caller's signal and the total deadline as one signal, for every hop and the body. */
function callScope(url: URL, totalTimeoutMs: number, outer: AbortSignal | undefined) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(fetchErrors.totalTimeout(url, totalTimeoutMs)), totalTimeoutMs);
  const onOuterAbort = () => ctl.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: ctl.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

function parseContentLength(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

function retryAfterSeconds(res: IncomingMessage): number | undefined {
  const value = res.headers['retry-after'];
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * GETs a user-supplied URL and hands back its body as a stream, after checking every hop:
 * scheme, credentials, host allowlist, and every address the host resolves to (checked inside
 * the socket's own lookup, so the address checked is the address connected to). Redirects
 * are followed by hand, at most `maxRedirects`.
 *
 * Throws `AppError`: `url_not_allowed` (permanent) for policy refusals, `too_large` (permanent),
 * `source_unavailable` for timeouts, network errors and HTTP errors — retryable for 5xx, 408,
 * 425 and 429, permanent for other 4xx and unexpected statuses.
 */
export async function safeGetStream(url: string, opts: SafeFetchOptions): Promise<SafeStream> {
  const limits = limitsOf(opts);
  const maxBytes = opts.maxBytes;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer`);
  const maxRedirects = opts.maxRedirects ?? 3;
  let target: Target = checkTarget(url, opts);
  const scope = callScope(target.url, limits.totalTimeoutMs, opts.signal);
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await sendRequest({
        target,
        method: 'GET',
        headers: { 'user-agent': USER_AGENT, accept: 'image/*,*/*;q=0.8' },
        ...limits,
        signal: scope.signal,
      });
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        res.destroy();
        if (redirects >= maxRedirects) throw fetchErrors.notAllowed(target.url, `more than ${maxRedirects} redirects`);
        let next: URL;
        try {
          next = new URL(location, target.url);
        } catch {
          throw fetchErrors.badRedirect(target.url);
        }
        target = checkTarget(next, opts);
        continue;
      }
      if (status < 200 || status > 299) {
        res.destroy();
        throw fetchErrors.status(target.url, status, retryAfterSeconds(res));
      }
      const contentLength = parseContentLength(res.headers['content-length']);
      if (contentLength !== undefined && contentLength > maxBytes) {
        res.destroy();
        throw fetchErrors.declaredTooLarge(target.url, contentLength, maxBytes);
      }
      const onAbort = () => stream.destroy(scope.signal.reason);
      const stream = new GuardedBody(res, {
        url: target.url,
        maxBytes,
        idleTimeoutMs: limits.idleTimeoutMs,
        onClose: () => {
          scope.signal.removeEventListener('abort', onAbort);
          scope.dispose();
        },
      });
      scope.signal.addEventListener('abort', onAbort, { once: true });
      // The total deadline or the caller's signal may destroy a stream nobody reads yet; that
      // must not become an uncaught 'error'. Readers (pipeline, for await) still see the error.
      stream.on('error', () => {});
      return { stream, finalUrl: target.url.href, contentLength, contentType: res.headers['content-type'] };
    }
  } catch (err) {
    scope.dispose();
    throw err;
  }
}

/**
 * POSTs a JSON body (webhook callbacks) under the same address rules as {@link safeGetStream}.
 * Redirects are NOT followed: a 3xx comes back as its status, since re-sending a signed body
 * to wherever the receiver points is not something a callback should do.
 *
 * Resolves with the status of any HTTP answer (the caller decides what 4xx/5xx mean); throws
 * `url_not_allowed` for policy refusals and `source_unavailable` (retryable) when no answer
 * came: network errors and timeouts.
 */
export async function safePostJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: SafePostOptions,
): Promise<{ status: number }> {
  const limits = limitsOf(opts);
  const maxResponseBytes = opts.maxResponseBytes ?? 64 * 1024;
  const target = checkTarget(url, opts);
  const scope = callScope(target.url, limits.totalTimeoutMs, opts.signal);
  try {
    const res = await sendRequest({
      target,
      method: 'POST',
      headers: {
        'user-agent': USER_AGENT,
        'content-type': 'application/json',
        ...headers,
        'content-length': Buffer.byteLength(body),
      },
      body,
      ...limits,
      signal: scope.signal,
    });
    // The answer is the status; the body is read only so the receiver sees a clean close,
    // and at most maxResponseBytes of it, for at most the idle and total timeouts.
    const drain = new GuardedBody(res, {
      url: target.url,
      maxBytes: maxResponseBytes,
      idleTimeoutMs: limits.idleTimeoutMs,
      onClose: () => {},
    });
    const onAbort = () => drain.destroy();
    scope.signal.addEventListener('abort', onAbort, { once: true });
    drain.resume();
    await finished(drain).catch(() => {});
    scope.signal.removeEventListener('abort', onAbort);
    return { status: res.statusCode ?? 0 };
  } finally {
    scope.dispose();
  }
}

/**
 * Validation only, for the API before it accepts a job: the same checks as a fetch, DNS
 * included, without connecting. A fetch re-checks everything anyway (DNS answers change).
 * Trusted hosts are not resolved (they may only resolve inside the workers' network).
 */
export async function checkUrl(url: string, opts: CheckUrlOptions): Promise<void> {
  const target = checkTarget(url, opts);
  if (target.trusted || isIP(target.host) !== 0) return;
  await resolveChecked(target, target.host, opts.resolve ?? systemResolver);
}
