/**
 * A TCP proxy for fault injection: put it between a service and its clients (point the client's
 * URL at the proxy) and make the service unreachable on demand.
 *
 * - `pause()`: bytes stop moving both ways; connections stay open (a partition, a black hole).
 *   New connections are accepted and held until `resume()`.
 * - `drop()`: every open connection is reset, and new ones are reset as soon as they arrive,
 *   until `resume()` (a crashed server, a failover, a firewall answering with RST).
 * - `resume()`: back to forwarding.
 */
import net from 'node:net';

export interface TcpProxyStats {
  /** Connections forwarded to the target. */
  forwarded: number;
  /** Connections reset on arrival while dropped. */
  refused: number;
  /** Open connections reset by `drop()`. */
  dropped: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly state: 'up' | 'paused' | 'down';
  readonly stats: TcpProxyStats;
  /** Connections open right now. */
  readonly open: number;
  pause(): void;
  drop(): void;
  resume(): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
}

export async function startTcpProxy(target: { host: string; port: number }, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  let state: TcpProxy['state'] = 'up';
  const stats: TcpProxyStats = { forwarded: 0, refused: 0, dropped: 0 };
  const pairs = new Set<Pair>();
  /** Accepted while paused: connected upstream on resume. */
  const held: Pair[] = [];

  const reset = (s: net.Socket | undefined) => {
    if (!s || s.destroyed) return;
    // RST rather than FIN: what a client sees when the server is gone.
    if (typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening') s.resetAndDestroy();
    else s.destroy();
  };

  const connectUpstream = (pair: Pair) => {
    stats.forwarded++;
    const upstream = net.connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
    const end = () => {
      pairs.delete(pair);
      pair.client.destroy();
      upstream.destroy();
    };
    upstream.on('error', end);
    upstream.on('close', end);
    if (state === 'paused') pausePair(pair);
  };

  // Unpiped, not just paused: a pipe resumes its source on 'drain' by itself.
  const pausePair = (pair: Pair) => {
    if (pair.upstream) {
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.upstream.pause();
    }
    pair.client.pause();
  };
  const resumePair = (pair: Pair) => {
    if (!pair.upstream) return;
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };

  const server = net.createServer((client) => {
    client.setNoDelay(true);
    client.on('error', () => undefined);
    if (state === 'down') {
      stats.refused++;
      reset(client);
      return;
    }
    const pair: Pair = { client, upstream: undefined };
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (state === 'paused') {
      client.pause();
      held.push(pair);
      return;
    }
    connectUpstream(pair);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    host: listenHost,
    port,
    get state() {
      return state;
    },
    stats,
    get open() {
      return pairs.size;
    },
    pause() {
      state = 'paused';
      for (const p of pairs) pausePair(p);
    },
    drop() {
      state = 'down';
      for (const p of [...pairs]) {
        stats.dropped++;
        reset(p.client);
        reset(p.upstream);
        pairs.delete(p);
      }
      held.length = 0;
    },
    resume() {
      const wasPaused = state === 'paused';
      state = 'up';
      if (!wasPaused) return;
      for (const p of pairs) resumePair(p);
      for (const p of held.splice(0)) if (!p.client.destroyed) connectUpstream(p);
    },
    close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
