/**
 * One access line per request at info: Fastify's "request completed", with the request's method
 * and URL added, so that it says on its own what was asked and how it ended. Fastify's separate
 * "incoming request" line is kept at debug (a request still in flight shows there). Two info lines
 * per request were ~7 % of the API's CPU on the rehost path (docs/BENCHMARKS.md, issue 12).
 */
import { LogController } from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';

export class AccessLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const req = { method: request.method, url: request.url };
    if (error) reply.log.error({ req, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
