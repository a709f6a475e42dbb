/**
 * The API's HTTP edge: how long a client may take to send a request, what it gets when it is too
 * slow or speaks broken HTTP, and when its connection is closed. A client that trickles its body
 * (headers, then a byte every few seconds) must not hold a socket, or a few thousand of them use up
 * the file descriptors and /healthz stops answering.
 */
import type { Socket } from 'node:net';
import { AppError } from '@rehost/jobs';
import type { FastifyInstance } from 'fastify';
import { LONGEST_WAIT_MS } from '../routes/schemas.js';

export interface EdgeLimits {
  /** Whole request (headers and body) must arrive within this. */
  API_REQUEST_TIMEOUT_MS: number;
  /** Headers must arrive within this (≤ API_REQUEST_TIMEOUT_MS). */
  API_HEADERS_TIMEOUT_MS: number;
}

/** One error body, as the route error handler writes it, for the replies Node's parser makes. */
function rawErrorReply(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Errors raised below Fastify (request timeout, malformed HTTP, oversized headers): answered in the
 * contract's shape, then the socket is destroyed.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already under way on this socket (an early 401, say) cannot be followed by another.
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (!socket.writable || started) {
    socket.destroy();
    return;
  }
  const reply =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? rawErrorReply(408, 'Request Timeout', 'request_timeout', 'the request was not received in time')
    : err.code === 'HPE_HEADER_OVERFLOW' ? rawErrorReply(431, 'Request Header Fields Too Large', 'too_large', 'request headers too large')
    : rawErrorReply(400, 'Bad Request', 'bad_request', 'malformed HTTP request');
  // Half-close, so the reply is read before the socket goes (closing with unread input would send
  // a reset that can discard it); then destroy it a moment later whatever the client does.
  socket.end(reply);
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

/** How long a socket answered by clientErrorHandler may linger half-closed. */
const CLOSE_GRACE_MS = 1000;

/** Fastify factory options that bound every request. */
export function edgeServerOptions(limits: EdgeLimits) {
  return {
    // Fastify's default is 0 (no limit), which also switches off Node's own 300 s bound.
    requestTimeout: limits.API_REQUEST_TIMEOUT_MS,
    // A socket silent both ways for longer than the longest long-poll is dead (idle keep-alive
    // sockets go sooner, after keepAliveTimeout).
    connectionTimeout: LONGEST_WAIT_MS + 30_000,
    http: {
      requestTimeout: limits.API_REQUEST_TIMEOUT_MS,
      headersTimeout: limits.API_HEADERS_TIMEOUT_MS,
      // How often Node looks for requests past those bounds (its default, 30 s, would let a
      // request live up to a bound plus 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.API_REQUEST_TIMEOUT_MS / 4))),
    },
    clientErrorHandler,
    // Fastify's own 503 while closing has another shape: answered by `answerWhileClosing` instead.
    return503OnClosing: false,
  };
}

/** Seconds a client is asked to wait when this process is shutting down (another will answer). */
const CLOSING_RETRY_AFTER = 1;

/**
 * A request that arrives on a kept-alive connection after shutdown began is answered 503
 * `unavailable` with Retry-After, and its connection is closed; requests already in flight finish.
 */
export function answerWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw new AppError('unavailable', 'the API is shutting down; retry', { retryAfterSeconds: CLOSING_RETRY_AFTER });
  });
}

/**
 * A reply sent before the request body was read (an early 401, a 413 mid-body, any error) closes
 * the connection: otherwise Node keeps reading, and discarding, whatever the client still trickles.
 */
export function closeUnreadConnections(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply) => {
    if (!req.raw.complete) reply.header('connection', 'close');
  });
}
