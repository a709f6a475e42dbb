import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  headers: http.IncomingHttpHeaders;
  /** The raw body, as the receiver must verify it. */
  body: string;
  /** What the receiver answered. */
  answered: number;
}

/**
 * A webhook receiver on 127.0.0.1 that answers from a script of statuses (then 200) and
 * lets a test await the n-th request.
 */
export async function startReceiver() {
  const received: ReceivedHook[] = [];
  const answers: number[] = [];
  const waiters: { assetId: string; n: number; resolve: (hooks: ReceivedHook[]) => void }[] = [];
  const forAsset = (assetId: string) => received.filter((h) => h.headers['x-rehost-asset-id'] === assetId);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = answers.shift() ?? 200;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered < 300 ? 'ok' : 'try later');
      for (const w of [...waiters]) {
        const hooks = forAsset(w.assetId);
        if (hooks.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(hooks.slice(0, w.n));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** Statuses for the next requests, in order. */
    answerWith: (...statuses: number[]) => answers.push(...statuses),
    /** Resolves with the first `n` requests about `assetId` once they have arrived. */
    requests: (assetId: string, n: number) =>
      new Promise<ReceivedHook[]>((resolve) => {
        const hooks = forAsset(assetId);
        if (hooks.length >= n) resolve(hooks.slice(0, n));
        else waiters.push({ assetId, n, resolve });
      }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
