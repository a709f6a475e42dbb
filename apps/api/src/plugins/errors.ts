import { AppError, type ErrorCode } from '@rehost/jobs';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** The one place where error codes become HTTP statuses. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  url_not_allowed: 400,
  bot_not_configured: 400,
  unauthorized: 401,
  quota_exceeded: 403,
  not_found: 404,
  conflict: 409,
  idempotency_conflict: 409,
  asset_deleted: 410,
  object_missing: 409,
  upload_expired: 410,
  too_large: 413,
  unsupported_type: 415,
  rate_limited: 429,
  store_unavailable: 503,
  internal: 500,
};

export const statusFor = (code: ErrorCode): number => STATUS[code] ?? 422;

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) reply.header('Retry-After', String(err.retryAfterSeconds));
      return reply.status(statusFor(err.code)).send({ error: { code: err.code, message: err.message } });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const where = first?.instancePath ? `${err.validationContext ?? 'body'}${first.instancePath.replaceAll('/', '.')}` : (err.validationContext ?? 'body');
      return reply.status(400).send({ error: { code: 'bad_request', message: `${where}: ${first?.message ?? 'invalid'}` } });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: { code: 'too_large', message: 'request body too large' } });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(err.statusCode).send({ error: { code: 'bad_request', message: err.message } });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'internal', message: 'internal error' } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: { code: 'not_found', message: `route ${req.method} ${req.url.split('?')[0]} not found` } });
  });
}
