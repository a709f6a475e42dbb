import type { AddressInfo } from 'node:net';
import type { Logger } from '@rehost/logger';
import type { Registry } from 'prom-client';

// The CommonJS module, not `import http from 'node:http'`: an ESM import of node:http makes Node
// build its ESM facade, which reads every export, lazy ones included, and so loads the bundled
// undici (and http2) for WebSocket & co. — about 12 MB of RSS at start for nothing used here.
const http = process.getBuiltinModule('node:http');

export interface OpsServerOptions {
  port: number;
  /** @defaultValue 0.0.0.0 (a scraper in another container must reach it) */
  host?: string;
  registry: Registry;
  log: Logger;
}

export interface OpsServer {
  port: number;
  close: () => Promise<void>;
}

/**
 * The worker's operator port: `GET /metrics` (Prometheus) and `GET /healthz` (the process
 * answers; liveness only). Plain node:http: a worker needs no framework for two routes.
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: unknown) => {
          opts.log.warn({ err }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"not found"}}');
  });
  // Scrapers keep connections alive; none of them may hold up shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
