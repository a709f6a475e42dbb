import { AssetFailedError, type AssetView, RehostApiError, RehostClient, WaitTimeoutError } from '@rehost/client';
import { type BackfillItem, countLines, idempotencyKeyFor, openInput, parseLine, readLines } from './input.js';
import type { BackfillOptions } from './options.js';
import { UsageError } from './options.js';
import { Pacer } from './pacer.js';
import { Progress } from './progress.js';
import { type JournalEntry, JsonLinesWriter, journalPathFor, loadState, readJsonLines, saveState } from './state.js';

/** Result long-polls in flight (each holds one HTTP request open). */
const WAIT_CONCURRENCY = 16;
/** Least time between two state writes; the last one is always written. */
const SAVE_EVERY_MS = 250;

export interface ReportLine {
  ref: string | null;
  assetId: string | null;
  status: string;
  url?: string;
  error?: { code: string; message: string };
  /** Input line (0-based), for lines refused before they had a usable ref. */
  line?: number;
}

const reportKey = (r: { ref: string | null; line?: number }) => r.ref ?? `#line:${r.line}`;

/**
 * Enqueues every input line at the configured rate, then reports each ref's result.
 * Resumable: the position and every answer are saved as they happen; SIGINT lets the
 * requests in flight finish, saves, and exits 130. Returns the exit code.
 */
export async function runBackfill(opts: BackfillOptions): Promise<number> {
  const inputId = opts.input ?? '-';
  const state = await loadState(opts.statePath);
  if (state && state.input !== inputId) {
    throw new UsageError(`${opts.statePath} belongs to input ${state.input}; pass another --state for ${inputId}`);
  }
  const journalPath = journalPathFor(opts.statePath);
  const journaled = await readJsonLines<JournalEntry>(journalPath);
  const earlierReport = await readJsonLines<ReportLine>(opts.reportPath);

  const reported = new Set<string>();
  let failed = 0;
  for (const r of earlierReport) {
    if (reported.has(reportKey(r))) continue;
    reported.add(reportKey(r));
    if (r.status !== 'ready') failed++;
  }

  const client = new RehostClient({ baseUrl: opts.apiUrl, token: opts.token, retries: 5 });
  const journal = await JsonLinesWriter.open(journalPath);
  const report = await JsonLinesWriter.open(opts.reportPath);
  const total = opts.input ? await countLines(opts.input) : undefined;

  let position = state?.position ?? 0;
  const resumedAt = position;
  const doneAhead = new Set<number>();
  let incomplete = 0;
  let fatal: unknown;

  // --- results: long-polls in a bounded pool, each answer appended to the report
  const stopWaits = new AbortController();
  const waitQueue: { ref: string; assetId: string }[] = [];
  const queued = new Set<string>();
  const running = new Set<Promise<void>>();

  const writeReport = async (line: ReportLine) => {
    const key = reportKey(line);
    if (reported.has(key)) return;
    reported.add(key);
    if (line.status !== 'ready') failed++;
    await report.write(line);
  };
  const reportAsset = (ref: string, asset: AssetView) =>
    writeReport({
      ref,
      assetId: asset.id,
      status: asset.status,
      ...(asset.url ? { url: asset.url } : {}),
      ...(asset.error ? { error: asset.error } : {}),
    });

  const collect = async ({ ref, assetId }: { ref: string; assetId: string }) => {
    try {
      await reportAsset(ref, await client.waitForAsset(assetId, { timeoutMs: opts.waitTimeoutMs, signal: stopWaits.signal }));
    } catch (err) {
      if (err instanceof AssetFailedError) return reportAsset(ref, err.asset);
      if (err instanceof RehostApiError && err.status === 404) {
        return writeReport({ ref, assetId, status: 'deleted', error: { code: err.code, message: err.message } });
      }
      if (stopWaits.signal.aborted) return; // interrupted: collected by the next run
      incomplete++;
      progress.say(`backfill: no result for ${JSON.stringify(ref)} (${assetId}): ${err instanceof WaitTimeoutError ? 'still processing' : (err as Error).message}`);
    }
  };
  const pump = () => {
    while (running.size < WAIT_CONCURRENCY && waitQueue.length > 0) {
      const next = waitQueue.shift()!;
      const p: Promise<void> = collect(next).finally(() => {
        running.delete(p);
        pump();
      });
      running.add(p);
    }
  };
  const awaitResult = (ref: string, assetId: string) => {
    if (reported.has(ref) || queued.has(ref)) return;
    queued.add(ref);
    waitQueue.push({ ref, assetId });
    pump();
  };
  const drainResults = async () => {
    while (running.size > 0) await Promise.race(running);
  };

  const progress = new Progress(
    () => ({ handled: position + doneAhead.size, total, reported: reported.size, waiting: waitQueue.length + running.size, failed }),
    process.stderr,
    opts.progressEveryMs,
  );

  // --- position: advances over the contiguous prefix of handled lines, saved atomically
  let saving: Promise<void> = Promise.resolve();
  let lastSave = 0;
  let saveTimer: NodeJS.Timeout | undefined;
  const save = () => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = undefined;
    lastSave = Date.now();
    const snapshot = { version: 1 as const, input: inputId, position, updatedAt: new Date().toISOString() };
    saving = saving.then(() => saveState(opts.statePath, snapshot));
    return saving;
  };
  const scheduleSave = () => {
    if (saveTimer) return;
    saveTimer = setTimeout(save, Math.max(0, lastSave + SAVE_EVERY_MS - Date.now()));
  };
  const markDone = (index: number) => {
    doneAhead.add(index);
    while (doneAhead.delete(position)) position++;
    scheduleSave();
  };

  // --- interrupt: first Ctrl-C stops taking lines, second one leaves at once
  const stopping = new AbortController();
  const source = openInput(opts.input);
  const onSigint = () => {
    if (stopping.signal.aborted) {
      progress.say('backfill: interrupted again, leaving now');
      process.exit(130);
    }
    progress.say('backfill: interrupted — finishing requests in flight, then saving (Ctrl-C again to quit now)');
    stopping.abort();
    stopWaits.abort();
    source.destroy();
  };
  process.on('SIGINT', onSigint);

  for (const e of journaled) if ('assetId' in e) awaitResult(e.ref, e.assetId);
  if (resumedAt > 0) progress.say(`backfill: resuming at line ${resumedAt + 1} (${resumedAt} lines handled before)`);
  progress.start();

  const enqueueOne = async (index: number, item: BackfillItem) => {
    const common = { idempotencyKey: idempotencyKeyFor(opts.keyPrefix, item.ref), ...(item.ownerId ? { ownerId: item.ownerId } : {}) };
    try {
      const res =
        item.kind === 'url'
          ? await client.rehostUrl(item.url, common)
          : await client.rehostTelegramFile(item.fileId, {
              ...common,
              ...(item.fileUniqueId ? { fileUniqueId: item.fileUniqueId } : {}),
              ...(item.bot ? { bot: item.bot } : {}),
            });
      await journal.write({ line: index, ref: item.ref, assetId: res.assetId } satisfies JournalEntry);
      if (res.asset && (res.asset.status === 'ready' || res.asset.status === 'failed' || res.asset.status === 'expired')) {
        await reportAsset(item.ref, res.asset);
      } else {
        awaitResult(item.ref, res.assetId);
      }
    } catch (err) {
      // The API refused this line for good (4xx other than 429): report it and go on.
      if (err instanceof RehostApiError && err.status < 500 && err.status !== 429) {
        const error = { code: err.code, message: err.message };
        await journal.write({ line: index, ref: item.ref, error } satisfies JournalEntry);
        await writeReport({ ref: item.ref, assetId: null, status: 'rejected', error });
      } else {
        // Out of retries (API down): stop here; this line is not done, a rerun sends it again.
        fatal ??= err;
        stopping.abort();
        return;
      }
    }
    markDone(index);
  };

  const pacer = new Pacer(opts.ratePerSecond);
  const inFlight = new Set<Promise<void>>();
  try {
    for await (const { index, text } of readLines(source, stopping.signal)) {
      if (stopping.signal.aborted) break;
      if (index < position) continue;
      if (!text.trim()) {
        markDone(index);
        continue;
      }
      const parsed = parseLine(text);
      if ('invalid' in parsed) {
        const error = { code: 'invalid_line', message: parsed.invalid };
        await journal.write({ line: index, ref: parsed.ref ?? null, error } satisfies JournalEntry);
        await writeReport({ ref: parsed.ref ?? null, line: index, assetId: null, status: 'invalid', error });
        markDone(index);
        continue;
      }
      while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
      if (!(await pacer.wait(stopping.signal))) break;
      const p: Promise<void> = enqueueOne(index, parsed.item).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  } catch (err) {
    // A destroyed input (Ctrl-C) ends the loop with an error on some streams: that is the stop.
    if (!stopping.signal.aborted) throw err;
  }
  await Promise.all(inFlight);
  await save();

  if (!stopping.signal.aborted) await drainResults();
  stopWaits.abort();
  await drainResults();
  process.off('SIGINT', onSigint);
  progress.stop();
  await Promise.all([journal.close(), report.close()]);

  if (fatal) {
    progress.say(`backfill: stopped: ${(fatal as Error).message ?? String(fatal)} — rerun the same command to resume`);
    return 3;
  }
  if (stopping.signal.aborted) {
    progress.say(`backfill: saved at line ${position}; rerun the same command to resume`);
    return 130;
  }
  progress.say(`backfill: finished: ${reported.size} results (${failed} not ready) in ${opts.reportPath}`);
  if (incomplete > 0) {
    progress.say(`backfill: ${incomplete} assets had no result within --wait-timeout; rerun to collect them`);
    return 3;
  }
  return failed > 0 ? 1 : 0;
}
