import { AppError, type ErrorCode } from '@rehost/jobs';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isServiceUnavailable } from './unavailable.js';

/** The one place where error codes become HTTP statuses. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  url_not_allowed: 400,
  bot_not_configured: 400,
  unauthorized: 401,
  quota_exceeded: 403,
  not_found: 404,
  request_timeout: 408,
  conflict: 409,
  idempotency_conflict: 409,
  not_analyzed: 409,
  asset_deleted: 410,
  object_missing: 409,
  upload_expired: 410,
  too_large: 413,
  unsupported_type: 415,
  rate_limited: 429,
  store_unavailable: 503,
  unavailable: 503,
  internal: 500,
};

export const statusFor = (code: ErrorCode): number => STATUS[code] ?? 422;

/** Seconds a client is asked to wait when a backing service is down. */
export const UNAVAILABLE_RETRY_AFTER = 5;

/** Fastify's own 4xx errors (body parsing, media type, limits, URL) by status, in our codes. */
const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  401: 'unauthorized',
  404: 'not_found',
  408: 'request_timeout',
  413: 'too_large',
  415: 'unsupported_type',
  429: 'rate_limited',
  431: 'too_large',
};

/** Messages for Fastify's error codes, in our words (theirs name internals or echo input). */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported media type: send the body as application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the Content-Length does not match the body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body is not valid JSON',
  FST_ERR_BAD_URL: 'the URL is not valid (bad percent-encoding)',
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long',
};

function send(reply: FastifyReply, status: number, code: ErrorCode, message: string) {
  return reply.status(status).send({ error: { code, message } });
}

/** For Fastify's `frameworkErrors` option: errors raised while routing, before any hook runs. */
export function frameworkErrorHandler(err: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  return send(reply, status, CODE_FOR_STATUS[status] ?? 'bad_request', FASTIFY_MESSAGES[err.code] ?? 'bad request');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) reply.header('Retry-After', String(err.retryAfterSeconds));
      return send(reply, statusFor(err.code), err.code, err.message);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const at = (first?.instancePath ?? '').replaceAll('/', '.').replace(/^\.$/, '');
      const where = `${err.validationContext ?? 'body'}${at}`;
      return send(reply, 400, 'bad_request', `${where}: ${first?.message ?? 'invalid'}`);
    }
    if (isServiceUnavailable(err)) {
      // Logged without the driver's message details beyond the error itself (no URL is in it).
      req.log.warn({ err }, 'backing service unavailable');
      reply.header('Retry-After', String(UNAVAILABLE_RETRY_AFTER));
      return send(reply, 503, 'unavailable', 'the service is temporarily unavailable; retry later');
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      const code = CODE_FOR_STATUS[err.statusCode] ?? 'bad_request';
      return send(reply, err.statusCode, code, FASTIFY_MESSAGES[err.code] ?? err.message);
    }
    req.log.error({ err }, 'request failed');
    return send(reply, 500, 'internal', 'internal error');
  });
  app.setNotFoundHandler((req, reply) => {
    send(reply, 404, 'not_found', `route ${req.method} ${req.url.split('?')[0]} not found`);
  });
}
