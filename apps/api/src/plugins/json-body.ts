/**
 * The API takes JSON bodies only, parsed here. Besides syntax, every key and string of the
 * whole body is checked before any route sees it (see `jsonProblem`): no lone surrogate and no
 * NUL (PostgreSQL text and jsonb take neither), no `__proto__`/`constructor`/`prototype` key, at
 * most MAX_BODY_DEPTH levels. Each refusal is a 400 that says what was wrong — never the
 * value, which may hold a secret.
 */
import { errors } from '@rehost/jobs';
import type { FastifyInstance } from 'fastify';
import { jsonProblem } from '../routes/schemas.js';

/** No /v1 body needs more: metadata, the deepest part, is limited to 16 levels inside it. */
export const MAX_BODY_DEPTH = 32;

/** Parses a request body: undefined for an empty body, else the JSON value or an AppError. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8's message quotes part of the input: only its position is kept.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw errors.badRequest(`body is not valid JSON${at ? ` (at position ${at})` : ''}`);
  }
  const problem = jsonProblem(value, MAX_BODY_DEPTH);
  if (problem) throw errors.badRequest(`body${problem.startsWith('value') ? problem.slice('value'.length) : `.${problem}`}`);
  return value;
}

/** Replaces Fastify's JSON and text parsers: JSON only (any other media type is a 415). */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
