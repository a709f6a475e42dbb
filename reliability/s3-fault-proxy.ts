/**
 * An HTTP proxy in front of the S3 server that fails a share of requests: 500/503 answers in
 * S3's XML error format, and connections reset (before the request is forwarded, or halfway
 * through the answer's body).
 *
 * SigV4 signs the Host header. Clients are pointed at the proxy (S3_ENDPOINT = the proxy, path
 * style), so they sign `Host: <proxy host:port>`; the proxy forwards that header unchanged and
 * the S3 server checks the signature against exactly what the client signed. Pre-signed URLs
 * the API hands out name the proxy too, so browser-style PUTs pass through it as well.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Faults {
  /** Share of requests answered 500 or 503 (without reaching the server). */
  errorRate: number;
  /** Share of requests whose connection is reset: half before forwarding, half mid-answer. */
  resetRate: number;
}

export interface S3FaultStats {
  requests: number;
  errors: number;
  resetsBefore: number;
  resetsMidBody: number;
  forwarded: number;
  /** Held requests whose client closed the connection while they were held. */
  heldClientsGone: number;
  /** Requests held by `hold` whose client had gone when let go (never forwarded). */
  droppedAfterHold: number;
}

export interface S3FaultProxy {
  /** `http://127.0.0.1:<port>`: use as S3_ENDPOINT. */
  readonly url: string;
  readonly port: number;
  readonly stats: S3FaultStats;
  setFaults(f: S3Faults): void;
  /**
   * A test hook: `hold(method, path)` may return a promise the request waits for before it is
   * judged and forwarded; a request whose client has gone meanwhile is dropped, as S3 never saw it.
   */
  setHold(hold: ((method: string, path: string) => Promise<void> | undefined) | undefined): void;
  close(): Promise<void>;
}

const errorXml = (status: 500 | 503) => {
  const [code, message] =
    status === 500 ? ['InternalError', 'We encountered an internal error. Please try again.'] : ['SlowDown', 'Please reduce your request rate.'];
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
};

/** Hop-by-hop headers are the proxy's own business; everything else (Host included) passes unchanged. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export async function startS3FaultProxy(target: { host: string; port: number }, random: () => number = Math.random): Promise<S3FaultProxy> {
  let faults: S3Faults = { errorRate: 0, resetRate: 0 };
  const stats: S3FaultStats = { requests: 0, errors: 0, resetsBefore: 0, resetsMidBody: 0, forwarded: 0, heldClientsGone: 0, droppedAfterHold: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let hold: ((method: string, path: string) => Promise<void> | undefined) | undefined;

  const server = http.createServer((req, res) => {
    stats.requests++;
    const held = hold?.(req.method ?? 'GET', req.url ?? '/');
    if (!held) return handle(req, res);
    let gone = false;
    const onClose = () => {
      gone = true;
      stats.heldClientsGone++;
    };
    req.socket.once('close', onClose);
    void held.then(() => {
      req.socket.off('close', onClose);
      if (gone || req.socket.destroyed) {
        stats.droppedAfterHold++;
        return;
      }
      handle(req, res);
    });
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const roll = random();
    if (roll < faults.resetRate / 2) {
      stats.resetsBefore++;
      req.socket.resetAndDestroy();
      return;
    }
    if (roll < faults.resetRate / 2 + faults.errorRate) {
      stats.errors++;
      const status = random() < 0.5 ? 500 : 503;
      const body = errorXml(status);
      // Read the request body first, as a real server would, so the client sees the answer.
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'fault-proxy' });
        res.end(body);
      });
      return;
    }
    const cutMidBody = roll < faults.resetRate + faults.errorRate;
    stats.forwarded++;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers, agent }, (up) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(up.statusCode ?? 502, out);
      if (!cutMidBody) {
        up.pipe(res);
        return;
      }
      // Forward the headers and half the body, then reset: the client sees a short answer.
      stats.resetsMidBody++;
      let left = Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
      let done = false;
      const cut = () => {
        if (done) return;
        done = true;
        up.destroy();
        req.socket.resetAndDestroy();
      };
      res.flushHeaders();
      if (left <= 0) setImmediate(cut);
      up.on('data', (chunk: Buffer) => {
        if (done || left <= 0) return;
        const part = chunk.subarray(0, left);
        left -= part.length;
        res.write(part, () => {
          if (left <= 0) cut();
        });
      });
      up.on('end', cut);
    });
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  };
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    setFaults(f) {
      faults = f;
    },
    setHold(h) {
      hold = h;
    },
    close() {
      agent.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
