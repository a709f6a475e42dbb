import { PassThrough } from 'node:stream';
import { finishedJob as finishedJobOf, type Redis } from '@rehost/jobs';
import type { BotApiDouble } from '@rehost/testing';
import type { Job, Queue } from 'bullmq';
import type { Stack } from './stack.js';

/** Long-polls the API until the asset is terminal (the API answers on the completion event). */
export async function waitTerminal(stack: Stack, assetId: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`asset ${assetId} did not finish within ${timeoutMs} ms`);
    const { status, body } = await stack.call(`/v1/assets/${assetId}/wait?timeoutMs=${Math.min(left, 20_000)}`);
    if (status !== 200) throw new Error(`wait answered ${status}: ${JSON.stringify(body)}`);
    if (['ready', 'failed', 'expired'].includes(body.status)) return body;
  }
}

/**
 * The job once BullMQ has recorded it finished (completed or failed), bounded: an asset's event
 * goes out inside its job, before BullMQ records the end (and a ready asset's image analysis runs
 * in between), so a test reading the job's state or attempts waits for this, not for the asset.
 */
export function finishedJob(queue: Queue, jobId: string, timeoutMs = 10_000): Promise<Job> {
  return finishedJobOf(queue, queue.opts.connection as Redis, jobId, timeoutMs);
}

/** PUTs bytes exactly as a browser would with the headers the API handed out. */
export async function putUpload(upload: { url: string; headers: Record<string, string> }, bytes: Uint8Array, override: Record<string, string> = {}) {
  const headers = { ...upload.headers, ...override };
  delete (headers as Record<string, string>)['Content-Length']; // fetch sets it from the body, as browsers do
  const res = await fetch(upload.url, { method: 'PUT', headers, body: bytes });
  await res.arrayBuffer();
  return res.status;
}

/**
 * A Telegram file on the Bot API double whose download sends its first 64 bytes and then holds
 * until `release()`: a race test decides what happens while a worker is mid-download. With
 * `trickleEveryMs`, it sends one more byte at that interval while held: a download that is slow
 * but alive, which the worker's idle timeout (30 s) must not cut however long the test holds it.
 */
export function heldDownload(bot: BotApiDouble, ids: { fileId: string; fileUniqueId: string }, bytes: Buffer, opts: { trickleEveryMs?: number } = {}) {
  const body = new PassThrough();
  let started!: () => void;
  const downloading = new Promise<void>((r) => (started = r));
  let sent = 64;
  let trickle: NodeJS.Timeout | undefined;
  bot.addFile({
    ...ids,
    size: bytes.length,
    body: () => {
      body.write(bytes.subarray(0, sent));
      if (opts.trickleEveryMs) {
        trickle = setInterval(() => {
          if (sent < bytes.length - 1) body.write(bytes.subarray(sent, ++sent));
        }, opts.trickleEveryMs);
        trickle.unref();
      }
      started();
      return body;
    },
  });
  const release = () => {
    clearInterval(trickle);
    body.end(bytes.subarray(sent));
  };
  return { downloading, release };
}
