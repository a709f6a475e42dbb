import { errors } from '@rehost/jobs';
import type { FastifyRequest } from 'fastify';

/** True if any string (or object key) in `value` holds U+0000. */
export function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  if (Array.isArray(value)) return value.some((v) => containsNul(v, depth + 1));
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || containsNul(v, depth + 1));
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000: a body string carrying one (a filename, an
 * ownerId, a metadata value) would only fail at the database, as a 500. Refused up front (preValidation).
 */
export async function rejectNul(req: FastifyRequest): Promise<void> {
  if (containsNul(req.body)) throw errors.badRequest('body: strings must not contain NUL (U+0000) characters');
}
