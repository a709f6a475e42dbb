/**
 * Real local servers for this package's tests (not exported from the package).
 * They listen on `::` (dual stack), so 127.0.0.1, ::1 and ::ffff:127.0.0.1 all reach them and
 * every connection attempt, whatever form of loopback address it used, is counted.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { AppError } from '@rehost/jobs';

export interface TestServer {
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** `http://127.0.0.1:<port><path>` (or another host form). */
  url(path?: string, host?: string): string;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '::', ipv6Only: false }, resolve));
  return (server.address() as AddressInfo).port;
}

function wrap(server: net.Server, port: number, counter: { n: number }, sockets: Set<net.Socket>): TestServer {
  return {
    port,
    get connections() {
      return counter.n;
    },
    url: (path = '/', host = '127.0.0.1') => `http://${host}:${port}${path}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function track(server: net.Server) {
  const counter = { n: 0 };
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    counter.n++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return { counter, sockets };
}

export async function startHttpServer(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler);
  const { counter, sockets } = track(server);
  return wrap(server, await listen(server), counter, sockets);
}

/**
 * Self-signed test certificate for 127.0.0.1 and `tls.test`, valid 2020–2120. Generated once
 * for these tests; it protects nothing.
 */
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBdDCCARqgAwIBAgIUdY13GdgRGbKiwyHkJ0/JdEAhUAQwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWcmVob3N0IHNhZmUtZmV0Y2ggdGVzdDAgFw0yMDAxMDEwMDAw
MDBaGA8yMTIwMDEwMTAwMDAwMFowITEfMB0GA1UEAwwWcmVob3N0IHNhZmUtZmV0
Y2ggdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLG9g3SJnZ7dCOBOKWHr
jBiPX2Grb1qytefLuKItd7lFbhvytG2ZWXMXPbhe7DNmSNc/na6qzCOsXKSzK37+
WxejLjAsMBkGA1UdEQQSMBCHBH8AAAGCCHRscy50ZXN0MA8GA1UdEwEB/wQFMAMB
Af8wCgYIKoZIzj0EAwIDSAAwRQIhALnawCNW/MjTVqcYXjSTa3DRRT0jdwwI3jM/
O0ihm2YlAiAjIySRUPlkPwgWymf4iYlmiQin6Mhkxz7UmiN+5aFvmg==
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgO0wNVirkAh+A4HGV
vJaA++6kXRO9RRhDQwxvzqZp6uihRANCAASxvYN0iZ2e3QjgTilh64wYj19hq29a
srXny7iiLXe5RW4b8rRtmVlzFz24XuwzZkjXP52uqswjrFyksyt+/lsX
-----END PRIVATE KEY-----
`;

export async function startHttpsServer(handler: http.RequestListener): Promise<TestServer> {
  const server = https.createServer({ cert: TEST_CERT, key: TEST_KEY }, handler);
  const { counter, sockets } = track(server);
  return wrap(server, await listen(server), counter, sockets);
}

/** Makes every TLS client in this process trust {@link TEST_CERT}; returns the undo. */
export function trustTestCertificate(): () => void {
  const before = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...before, TEST_CERT]);
  return () => tls.setDefaultCACertificates(before);
}

/** Hand-written HTTP, for responses node:http will not produce (stalls, close-delimited bodies). */
export async function startRawServer(onSocket: (socket: net.Socket) => void): Promise<TestServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  const { counter, sockets } = track(server);
  return wrap(server, await listen(server), counter, sockets);
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Writes `chunk` until the peer goes away, honouring backpressure; resolves with bytes written. */
export function writeForever(res: NodeJS.WritableStream & { destroyed?: boolean }, chunk: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let written = 0;
    const pump = () => {
      while (!res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    res.on('close', () => resolve(written));
    res.on('error', () => {});
    pump();
  });
}

/** The rejection of `p` (fails the test if `p` resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<AppError> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.err instanceof AppError)) throw outcome.err;
  return outcome.err;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
