/**
 * Idempotency keys are bound to their request (CONTRACT.md §3): scoped to the API token that
 * sent them — two services choosing the same key never meet — and fingerprinted with the body,
 * so the same key with another body is refused (409) instead of answered with the first asset.
 */
import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Names the caller without storing its secret: a digest of the bearer token (or `anonymous`). */
export function callerScope(authorization: string | undefined): string {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  return token ? sha256(`rehost-idempotency-scope:${token}`).slice(0, 24) : 'anonymous';
}

export const scopedIdempotencyKey = (scope: string, key: string): string => `${scope}:${key}`;

/**
 * sha256 of the validated body (defaults applied, keys sorted, `idempotencyKey` left out), so
 * `{"bot":"default"}` and an omitted bot are the same request.
 */
export function requestFingerprint(body: Record<string, unknown>): string {
  const { idempotencyKey: _key, ...rest } = body;
  return sha256(stringify(rest) ?? '');
}
