/**
 * How the suite's clients submit: through @rehost/client (retries with backoff on 5xx, 429 and
 * network errors, one idempotency key per submission across all its retries), and — when the
 * client's own retries run out during an outage — again with the same key until a deadline,
 * as a well-behaved caller would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RehostClient } from '../../packages/client/src/index.js';
import { putUpload } from '../../test/src/helpers.js';
import type { SourceFile } from './files.js';
import { type Submission, submission, TERMINAL } from './tally.js';

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

async function untilAccepted(sub: Submission, deadline: number, call: () => Promise<string | { assetId: string; status: string }>): Promise<Submission> {
  for (;;) {
    try {
      const answer = await call();
      const { assetId, status } = typeof answer === 'string' ? { assetId: answer, status: '' } : answer;
      sub.assetIds.add(assetId);
      // Answered with a finished asset (200): no job runs for it, so no event may follow.
      if (TERMINAL.has(status)) sub.answeredTerminal.add(assetId);
      sub.accepted = true;
      return sub;
    } catch (err) {
      sub.error = describe(err);
      if (Date.now() >= deadline) return sub;
      await sleep(250);
    }
  }
}

export interface TelegramSubmitOptions {
  /** Send the file's fileUniqueId (the server can dedupe before any download). */
  withUniqueId?: boolean;
  /** Defaults to a fresh key per submission. */
  idempotencyKey?: string;
  ownerId?: string;
  /** A configured bot's name (TELEGRAM_BOTS); the default bot otherwise. */
  bot?: string;
  deadline: number;
}

export function submitTelegram(client: RehostClient, file: SourceFile, opts: TelegramSubmitOptions): Promise<Submission> {
  const idempotencyKey = opts.idempotencyKey ?? crypto.randomUUID();
  const sub = submission(file, `key:${idempotencyKey}`);
  return untilAccepted(sub, opts.deadline, async () => {
    return client.rehostTelegramFile(file.fileId, {
      idempotencyKey,
      ...(opts.ownerId ? { ownerId: opts.ownerId } : {}),
      ...(opts.bot ? { bot: opts.bot } : {}),
      ...(opts.withUniqueId ? { fileUniqueId: file.fileUniqueId } : {}),
    });
  });
}

export function submitUrl(
  client: RehostClient,
  url: string,
  file: { sha256: string },
  opts: { idempotencyKey: string; ownerId?: string; deadline: number },
): Promise<Submission> {
  const sub = submission(file, `key:${opts.idempotencyKey}`, url);
  const owner = opts.ownerId ? { ownerId: opts.ownerId } : {};
  return untilAccepted(sub, opts.deadline, () => client.rehostUrl(url, { idempotencyKey: opts.idempotencyKey, ...owner }));
}

/**
 * A browser-style upload: ask for the URL, PUT the bytes (again on a failed PUT: the URL stays
 * valid), then complete (again until it answers). One asset per submission by construction.
 */
export function submitUpload(client: RehostClient, file: SourceFile, deadline: number, ownerId?: string): Promise<Submission> {
  const sub = submission(file);
  let created: Awaited<ReturnType<RehostClient['createUpload']>> | undefined;
  let put = false;
  return untilAccepted(sub, deadline, async () => {
    created ??= await client.createUpload({ contentType: 'image/png', size: file.bytes.length, ...(ownerId ? { ownerId } : {}) });
    if (!put) {
      const status = await putUpload(created.upload, file.bytes);
      if (status !== 200) throw new Error(`PUT answered ${status}`);
      put = true;
    }
    await client.completeUpload(created.assetId);
    return created.assetId;
  });
}
