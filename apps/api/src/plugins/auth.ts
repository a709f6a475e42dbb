import { createHash, timingSafeEqual } from 'node:crypto';
import { errors } from '@rehost/jobs';
import type { FastifyRequest } from 'fastify';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token check for /v1 routes. Tokens are compared as SHA-256 digests with
 * timingSafeEqual (equal lengths, constant time), against every configured token.
 */
export function bearerAuth(tokens: string[], opts: { allowAnonymous?: boolean } = {}): (req: FastifyRequest) => Promise<void> {
  const accepted = tokens.map(digest);
  return async (req) => {
    // No tokens: open only when explicitly allowed (config refuses to start otherwise); fail closed.
    if (accepted.length === 0 && opts.allowAnonymous === true) return;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw errors.unauthorized();
    const given = digest(match[1]!);
    let ok = false;
    for (const t of accepted) ok = timingSafeEqual(t, given) || ok;
    if (!ok) throw errors.unauthorized();
  };
}
