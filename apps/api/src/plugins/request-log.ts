/**
 * One access line per request at info: Fastify's "request completed", with the request's method
 * and URL added, so that it says on its own what was asked and how it ended. Fastify's separate
 * "incoming request" line is kept at debug (a request still in flight shows there). A route adds
 * what it decided (the asset it created, say) with `noteForAccessLog` rather than writing a line
 * of its own: each line is a pipe write and a redaction pass (three info lines per rehost were
 * ~7 % of the API's CPU, docs/BENCHMARKS.md, issue 12).
 */
import { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Fields the route adds to this request's access line (`noteForAccessLog`). */
    accessNote: Record<string, unknown> | null;
  }
}

/** Gives every request an (empty) access note; call once on the root instance. */
export function registerAccessNotes(app: FastifyInstance): void {
  app.decorateRequest('accessNote', null);
}

/** Adds `fields` to the request's access line ("request completed" or "request errored"). */
export function noteForAccessLog(request: FastifyRequest, fields: Record<string, unknown>): void {
  request.accessNote = request.accessNote ? { ...request.accessNote, ...fields } : fields;
}

export class AccessLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const req = { method: request.method, url: request.url };
    const note = request.accessNote;
    if (error) reply.log.error({ req, res: reply, err: error, responseTime: reply.elapsedTime, ...note }, 'request errored');
    else reply.log.info({ req, res: reply, responseTime: reply.elapsedTime, ...note }, 'request completed');
  }
}
