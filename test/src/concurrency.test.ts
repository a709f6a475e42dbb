import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makePng } from '@rehost/testing';
import { waitTerminal } from './helpers.js';
import { type Stack, startStack } from './stack.js';

/** An origin that holds every response until the test releases it, counting requests in flight. */
function holdingOrigin() {
  const png = makePng(16, 16);
  const held: http.ServerResponse[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let onArrive: (() => void) | undefined;
  const server = http.createServer((_req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    held.push(res);
    onArrive?.();
  });
  return {
    server,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Resolves once `n` responses are being held. */
    holding: (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (held.length >= n) {
            onArrive = undefined;
            resolve();
          }
        };
        onArrive = check;
        check();
      }),
    releaseOne: () => {
      const res = held.shift();
      res?.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    },
  };
}

let stack: Stack;
const origin = holdingOrigin();
let base: string;

beforeAll(async () => {
  await new Promise<void>((r) => origin.server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(origin.server.address() as AddressInfo).port}`;
  stack = await startStack({
    env: { WORKER_CONCURRENCY: '2', REHOST_URL_ALLOWED_HOSTS: '127.0.0.1', REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1' },
  });
});
afterAll(async () => {
  await stack?.close();
  origin.server.closeAllConnections();
  await new Promise((r) => origin.server.close(r));
});

describe('WORKER_CONCURRENCY', () => {
  it('bounds the jobs in flight in one worker process', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await stack.call('/v1/rehost', { method: 'POST', json: { source: { type: 'url', url: `${base}/img-${i}.png` } } });
      expect(res.status).toBe(202);
      ids.push(res.body.assetId);
    }
    // Release one download each time two are held: with a bound of 2, never more arrive.
    for (let released = 0; released < 6; released++) {
      await origin.holding(Math.min(2, 6 - released));
      origin.releaseOne();
    }
    const assets = await Promise.all(ids.map((id) => waitTerminal(stack, id)));
    expect(assets.map((a) => a.status)).toEqual(Array(6).fill('ready'));
    expect(origin.maxInFlight).toBe(2);
  });
});
