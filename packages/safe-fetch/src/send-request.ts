import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isAppError } from '@rehost/jobs';
import { fetchErrors } from './fetch-errors.js';
import { guardedLookup, type Resolver } from './guarded-lookup.js';
import type { Target } from './host-policy.js';

// The CommonJS modules, not `import http from 'node:http'`: an ESM import of node:http makes Node
// build its ESM facade, which reads every export, lazy ones included, and so loads the bundled
// undici (and http2) — about 12 MB of RSS in every process that imports this package, used or not.
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

export interface Hop {
  target: Target;
  method: 'GET' | 'POST';
  headers: OutgoingHttpHeaders;
  body?: string;
  resolve: Resolver;
  /** DNS + TCP (+ TLS handshake for https), as one budget. */
  connectTimeoutMs: number;
  /** From connected to complete response headers. */
  idleTimeoutMs: number;
  /** Aborted by the caller's signal or the total deadline; its reason becomes the error. */
  signal: AbortSignal;
}

/**
 * One request, no redirects followed: resolves with the response once its headers are in.
 * The caller owns the response from then on (read it or destroy it).
 */
export function sendRequest(hop: Hop): Promise<IncomingMessage> {
  const { target, signal } = hop;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const isHttps = target.url.protocol === 'https:';
    const req = (isHttps ? https : http).request(target.url, {
      method: hop.method,
      headers: hop.headers,
      // A fresh socket per hop, never a pooled one: a reused socket would skip the lookup check,
      // and a fresh Agent ignores NODE_USE_ENV_PROXY (a proxy would make the address check moot).
      agent: false,
      lookup: guardedLookup(target, hop.resolve),
    });

    let timer = setTimeout(
      () => req.destroy(fetchErrors.connectTimeout(target.url, hop.connectTimeoutMs)),
      hop.connectTimeoutMs,
    );
    const onAbort = () => req.destroy(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };

    req.once('socket', (socket) => {
      socket.once(isHttps ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => req.destroy(fetchErrors.idleTimeout(target.url, hop.idleTimeoutMs)),
          hop.idleTimeoutMs,
        );
      });
    });
    req.once('response', (res) => {
      settle();
      resolve(res);
    });
    // `on`, not `once`: a second error (socket trouble after the response) must not crash the process.
    req.on('error', (err) => {
      settle();
      reject(isAppError(err) || err === signal.reason ? err : fetchErrors.network(target.url, err));
    });
    req.end(hop.body);
  });
}
