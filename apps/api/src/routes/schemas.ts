/// <reference lib="es2024.string" />
/**
 * The validators every /v1 body, query and params schema is built from. Whatever a client sends
 * that PostgreSQL or our own code cannot take (a lone surrogate, a NUL, a structure too deep or too
 * big, a prototype key) is a 400 here, never a 500 further in.
 */
import { ALLOWED_IMAGE_TYPES, assetView, errorBody, telegramSource, urlSource } from '@rehost/jobs';
import { z } from 'zod';

export const errorResponse = z.object({ error: errorBody });

/** What each error status means on /v1, for the OpenAPI document. */
const ERROR_DESCRIPTIONS = {
  400: 'bad_request: malformed body, path or query (also url_not_allowed, bot_not_configured)',
  401: 'unauthorized: missing or invalid bearer token',
  403: "quota_exceeded: the owner is at OWNER_MAX_ASSETS or OWNER_MAX_BYTES",
  404: 'not_found',
  409: 'conflict (object_missing: complete before the PUT; idempotency_conflict: a key reused with another body; not_analyzed: similar before the image facts exist)',
  410: 'gone (upload_expired; asset_deleted: a retry of a deleted asset\'s request)',
  413: 'too_large: the JSON body is over 64 KiB, or the declared size over MAX_UPLOAD_BYTES',
  415: 'unsupported_type: the body is not application/json, or the image type is not accepted',
  422: 'the source cannot be used (for example, its host does not resolve)',
  429: 'rate_limited: too many queued jobs; retry after Retry-After seconds',
  503: 'unavailable: a backing service (PostgreSQL) cannot be reached, or this process is shutting down; retry after Retry-After seconds',
} as const;
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/**
 * The error part of a route's `response` map. Every /v1 route can answer 400 (path, query or
 * body), 401 and 503; add the route's own.
 */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): Record<400 | 401 | 503 | S, typeof errorResponse> {
  const all = [...new Set<ErrorStatus>([400, 401, 503, ...statuses])].sort();
  return Object.fromEntries(all.map((s) => [s, errorResponse.describe(ERROR_DESCRIPTIONS[s])])) as Record<400 | 401 | 503 | S, typeof errorResponse>;
}
/** Routes that take a JSON body can also answer 413 and 415. */
export const BODY_ERRORS = [413, 415] as const;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export { assetView };

/** The longest a long-poll (`/wait`) may be asked to wait. */
export const LONGEST_WAIT_MS = 120_000;
/** Metadata limits, the same on every route. */
export const METADATA_MAX_BYTES = 8192;
export const METADATA_MAX_DEPTH = 16;
/** Keys refused anywhere in a body: they name or reach an object's prototype. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `s` cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogate such as \\ud800)';
  if (s.includes('\u0000')) return 'must not contain NUL (U+0000) characters';
  return undefined;
}

/** A string PostgreSQL can store as it was sent: well-formed UTF-16 (so it has a UTF-8 form), no NUL. */
export const safeString = () =>
  z.string().superRefine((s, ctx) => {
    const problem = textProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * The first problem in a JSON value (path and reason), looking at every key and string down to
 * `maxDepth` levels; anything deeper is itself the problem, so nothing goes unchecked.
 */
export function jsonProblem(value: unknown, maxDepth: number, path = '', depth = 0): string | undefined {
  if (typeof value === 'string') {
    const p = textProblem(value);
    return p && `${path || 'value'}: strings ${p}`;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= maxDepth) return `${path || 'value'}: nested deeper than ${maxDepth} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = jsonProblem(value[i], maxDepth, `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key)) return `${path || 'value'}: the key ${JSON.stringify(key)} is not allowed`;
    const kp = textProblem(key);
    if (kp) return `${path || 'value'}: keys ${kp}`;
    const p = jsonProblem((value as Record<string, unknown>)[key], maxDepth, at, depth + 1);
    if (p) return p;
  }
  return undefined;
}

const metadataKey = safeString()
  .min(1)
  .max(256)
  .refine((k) => !FORBIDDEN_KEYS.has(k), { message: 'the keys __proto__, constructor and prototype are not allowed' });

/**
 * Caller metadata stored with the asset (jsonb): an object of JSON values, at most
 * METADATA_MAX_DEPTH levels and METADATA_MAX_BYTES serialized, on every route alike.
 */
export const metadataField = z
  .record(metadataKey, z.unknown())
  .superRefine((m, ctx) => {
    // The object itself is level 1: its values may nest METADATA_MAX_DEPTH - 1 more.
    for (const [key, value] of Object.entries(m)) {
      const problem = jsonProblem(value, METADATA_MAX_DEPTH - 1, key);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return;
      }
    }
    if (Buffer.byteLength(JSON.stringify(m)) > METADATA_MAX_BYTES) {
      ctx.addIssue({ code: 'custom', message: `is larger than ${METADATA_MAX_BYTES / 1024} KiB serialized` });
    }
  })
  .describe(`Your data, stored with the asset: a JSON object, at most ${METADATA_MAX_DEPTH} levels deep and ${METADATA_MAX_BYTES} bytes serialized`);

/**
 * A media type compared as RFC 9110 says: case-insensitive, parameters ignored. `IMAGE/PNG` and
 * `image/png; charset=binary` both become `image/png`.
 */
export const mediaType = safeString()
  .min(1)
  .max(100)
  .transform((v) => v.split(';')[0]!.trim().toLowerCase())
  .describe(`The image's media type, one of ${ALLOWED_IMAGE_TYPES.join(', ')} (case-insensitive; parameters are ignored)`);

/** A query parameter left empty (`?timeoutMs=`) means "not given": the default applies. */
export const emptyAsUnset = (v: unknown) => (v === '' ? undefined : v);

/** An integer query parameter with a default; empty means the default. */
export const queryInt = (min: number, max: number, dflt: number) => z.preprocess(emptyAsUnset, z.coerce.number().int().min(min).max(max).default(dflt));

export const assetIdParams = z.object({ assetId: safeString().max(64) });

/**
 * A Telegram bot token anywhere in a URL (`/bot<id>:<secret>/…`, `/file/bot<id>:<secret>/…`, in
 * the user info or the query), also percent-encoded, perhaps more than once.
 */
export function carriesBotToken(url: string): boolean {
  let text = url;
  for (let i = 0; i < 4; i++) {
    if (/(?:^|[^a-z0-9])bot\d+:[A-Za-z0-9_-]{8,}/i.test(text) || /(?:^|[^0-9])\d{5,}:[A-Za-z0-9_-]{30,}/.test(text)) return true;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      // Invalid escapes: decode what can be decoded.
      decoded = text.replace(/%[0-9a-f]{2}/gi, (m) => String.fromCharCode(Number.parseInt(m.slice(1), 16)));
    }
    if (decoded === text) return false;
    text = decoded;
  }
  return true; // still decoding after four rounds: nobody needs that
}

/** The body's `source`: the job's source schemas, with every string checked as text. */
export const rehostSourceBody = z.discriminatedUnion('type', [
  telegramSource.extend({
    fileId: safeString().min(1).max(512),
    fileUniqueId: safeString().min(1).max(128).optional(),
    bot: safeString().min(1).max(64).default('default'),
  }),
  urlSource.extend({
    url: safeString()
      .url()
      .max(2048)
      .refine((u) => !carriesBotToken(u), {
        // Never echo the URL: it holds the secret.
        message:
          'carries a Telegram bot token; send {"type":"telegram","fileId":…} instead and let rehost use its own bot configuration (and revoke that token)',
      }),
  }),
]);
