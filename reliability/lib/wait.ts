import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Re-reads `read()` until `ok` holds, for states nothing announces (the bucket's open multipart
 * uploads, BullMQ job counts). Throws after `timeoutMs`.
 */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
