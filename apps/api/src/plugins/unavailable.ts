/**
 * Recognises "the database (or another backing service) cannot be reached right now", whichever
 * client raised it: `pg` (socket errors, "Connection terminated …", pool timeouts, SQLSTATE
 * class 08 and server shutdown), ioredis or the S3 SDK (a plain socket error); no process runs
 * the Prisma client (packages/db), so its codes are not looked for. Such a request is answered
 * 503 with Retry-After, not 500: nothing is wrong with it, and a retry later will do.
 */

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/** PostgreSQL: admin/crash shutdown, starting up, too many connections. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** `pg`'s own messages for a lost or never-made connection. */
const PG_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed|Can't reach database server)/i;

interface Inspectable {
  code?: unknown;
  errorCode?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

export function isServiceUnavailable(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 6) return false;
  const e = err as Inspectable;
  const code = typeof e.code === 'string' ? e.code : typeof e.errorCode === 'string' ? e.errorCode : undefined;
  if (code && (SOCKET_CODES.has(code) || SQLSTATES.has(code) || code.startsWith('08'))) return true;
  if (typeof e.message === 'string' && PG_MESSAGES.test(e.message.trim())) return true;
  const inner = [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])];
  return inner.some((c) => isServiceUnavailable(c, depth + 1));
}
