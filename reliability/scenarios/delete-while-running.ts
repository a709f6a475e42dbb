/**
 * (11) Assets deleted while their jobs run, and their files requested again. Jobs are held at a
 * chosen point — Telegram jobs inside `getFile` (the Bot API double holds the call), Telegram
 * jobs mid-download (headers sent, no body yet), `url` jobs mid-download at a local origin — and
 * a chosen subset is DELETEd while they are held; some web uploads are deleted right after
 * `complete`. Half of the held Telegram downloads are shared by a second owner's request for the
 * same file, and either the downloader's or the sharer's asset is the one deleted. Then every
 * hold is let go and each deleted file is requested again (new keys, new owners).
 *
 * Holds are test hooks (the double's `beforeGetFile`, a body that waits), never timing guesses.
 *
 * Promised (CONTRACT.md §3–4): a deleted asset is gone at once (404, never listed); no live asset
 * is lost (each ends ready and its URL serves its sha256); no object beyond one per file (a
 * deleted run's upload is removed); no ready asset without its object; nothing under `i/` or
 * `staging/` that no live asset refers to.
 */
import { JobQueues } from '../../packages/jobs/src/index.js';
import { addFiles, downloadsStarted, Pen, type SourceFile, startOrigin } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram, submitUpload, submitUrl } from '../lib/submit.js';
import { type Check, fetchServed, listAll, readAssets, type Submission, tally } from '../lib/tally.js';
import { until } from '../lib/wait.js';
import type { Scenario } from './types.js';

/** Resolves true once no rehost/finalize job is waiting, delayed or active (false after `timeoutMs`). */
export async function jobsSettled(queues: JobQueues, timeoutMs: number): Promise<boolean> {
  const busy = async () => {
    const counts = await Promise.all(
      [queues.queues.rehost, queues.queues.finalizeUpload].map((q) => q.getJobCounts('active', 'waiting', 'delayed', 'prioritized')),
    );
    return counts.reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0);
  };
  return until(busy, (n) => n === 0, timeoutMs, 100).then(
    () => true,
    () => false,
  );
}

export const deleteWhileRunning: Scenario = {
  name: 'delete-while-running',
  async run(run) {
    const started = Date.now();
    const k = run.smoke ? 2 : 4; // files per group; half of each group is deleted
    const fault = `DELETE while held: ${k / 2} of ${k} Telegram jobs inside getFile, ${k / 2} of ${k} mid-download (each shared by a 2nd owner), ${k / 2} of ${k} url jobs mid-download, ${k / 2} of ${k} uploads after complete; then the same files requested again`;
    const penGetFile = new Pen();
    const penDownload = new Pen();
    const penUrl = new Pen();
    const heldIds = new Set<string>();
    const stage = await openStage(
      this.name,
      run,
      {
        // Every held job keeps a slot: room for all of them, and for the rest to run past them.
        WORKER_CONCURRENCY: String(4 * k + 4),
        REHOST_URL_ALLOWED_HOSTS: '127.0.0.1',
        REHOST_URL_TRUSTED_PRIVATE_HOSTS: '127.0.0.1',
      },
      { beforeGetFile: async (fileId) => (heldIds.has(fileId) ? penGetFile.hold() : undefined) },
    );
    const origin = await startOrigin();
    const queues = new JobQueues(stage.services.redis.redis, stage.services.redis.prefix);
    const openAll = () => {
      for (const p of [penGetFile, penDownload, penUrl]) p.open();
    };
    try {
      const api = await stage.startApi();
      await stage.startWorker();
      const client = stage.client(api.baseUrl);
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      let owner = 0;
      const nextOwner = () => `owner-${++owner}`;

      const inGetFile = addFiles(stage.bot, 'dg', k, { size: 60_000 });
      const midDownload = addFiles(stage.bot, 'dd', k, { size: 60_000, pen: penDownload });
      for (const f of inGetFile) heldIds.add(f.fileId);
      const urls = Array.from({ length: k }, (_, i) => origin.addChanging(`dw-${i}.png`, { size: 60_000, pen: penUrl }));
      const uploads = addFiles(stage.bot, 'du', k, { size: 60_000 }); // bytes only: uploaded by clients
      const urlSub = (u: (typeof urls)[number]) =>
        submitUrl(client, u.url, { sha256: '' }, { idempotencyKey: crypto.randomUUID(), ownerId: nextOwner(), deadline }).then((s) => {
          s.sha256s = u.sha256s;
          return s;
        });

      // 1. Every job reaches its hold.
      const downloading = downloadsStarted(2 * k);
      const first = {
        getFile: await Promise.all(inGetFile.map((f) => submitTelegram(client, f, { ownerId: nextOwner(), deadline }))),
        download: await Promise.all(midDownload.map((f) => submitTelegram(client, f, { ownerId: nextOwner(), deadline }))),
        url: await Promise.all(urls.map(urlSub)),
      };
      await Promise.all([penGetFile.arrived(k), penDownload.arrived(k), penUrl.arrived(k), downloading]);
      // A second owner asks for each file being downloaded: it shares the download (or waits for it).
      const sharers = await Promise.all(midDownload.map((f) => submitTelegram(client, f, { ownerId: nextOwner(), deadline })));
      const uploaded = await Promise.all(uploads.map((f) => submitUpload(client, f, deadline, nextOwner())));

      // 2. Delete half of each group while held: for downloads, alternately the downloader and the sharer.
      const half = <T>(xs: T[]) => xs.filter((_, i) => i % 2 === 0);
      const doomed: { sub: Submission; file: SourceFile | (typeof urls)[number]; kind: 'telegram' | 'url' | 'upload' }[] = [
        ...half(first.getFile).map((sub, i) => ({ sub, file: inGetFile[2 * i]!, kind: 'telegram' as const })),
        ...midDownload
          .map((f, i) => ({ sub: i % 4 === 0 ? first.download[i]! : sharers[i]!, file: f, kind: 'telegram' as const }))
          .filter((_, i) => i % 2 === 0),
        ...half(first.url).map((sub, i) => ({ sub, file: urls[2 * i]!, kind: 'url' as const })),
        ...half(uploaded).map((sub, i) => ({ sub, file: uploads[2 * i]!, kind: 'upload' as const })),
      ];
      const deletedIds = doomed.flatMap((d) => [...d.sub.assetIds]);
      const deleteErrors: string[] = [];
      await Promise.all(deletedIds.map((id) => client.deleteAsset(id).catch((err) => deleteErrors.push(`${id}: ${String(err)}`))));
      const stillThere = async () =>
        (await Promise.all(deletedIds.map(async (id) => (await fetch(`${api.baseUrl}/v1/assets/${id}`, { headers: { authorization: `Bearer ${stage.token}` } })).status)))
          .map((status, i) => ({ id: deletedIds[i]!, status }))
          .filter((r) => r.status !== 404);
      const visibleWhileHeld = await stillThere();

      // 3. Let everything go; once every job has finished (the deleted ones' too), request each
      // deleted file again: a file still stored for a live sharer is shared, the others stored anew.
      openAll();
      const doomedSet = new Set(doomed.map((d) => d.sub));
      const live = [...first.getFile, ...first.download, ...first.url, ...sharers, ...uploaded].filter((s) => !doomedSet.has(s));
      await stage.tracker.waitAll(live.flatMap((s) => [...s.assetIds]), deadline);
      const settledBeforeAgain = await jobsSettled(queues, Math.max(0, Math.min(30_000, deadline - Date.now())));
      const again = await Promise.all(
        doomed.map((d) => {
          if (d.kind === 'url') return urlSub(d.file as (typeof urls)[number]);
          if (d.kind === 'upload') return submitUpload(client, d.file as SourceFile, deadline, nextOwner());
          return submitTelegram(client, d.file as SourceFile, { ownerId: nextOwner(), deadline });
        }),
      );

      const subs = [...live, ...again];
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: {} });
      const settledAtEnd = await jobsSettled(queues, 10_000);

      // Gone at once, and still gone: never answered, never listed.
      const visibleAtEnd = await stillThere();
      // The listing (CONTRACT.md §3) where the API has it; a missing route is noted, not judged here.
      const listed = new Set<string>();
      let listing = 'ok';
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const res = await fetch(`${api.baseUrl}/v1/assets?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
          headers: { authorization: `Bearer ${stage.token}` },
        });
        if (!res.ok) {
          listing = `HTTP ${res.status}`;
          await res.arrayBuffer();
          break;
        }
        const body = (await res.json()) as { items: { id: string }[]; nextCursor: string | null };
        for (const a of body.items) listed.add(a.id);
        cursor = body.nextCursor;
        if (!cursor) break;
      }
      const listedDeleted = deletedIds.filter((id) => listed.has(id));

      // Ready without object; objects nobody refers to; objects holding the same bytes.
      const rows = await readAssets(stage);
      const objects = await listAll(stage, 'i/');
      const objectSet = new Set(objects);
      const readyWithoutObject = rows.filter((r) => !r.deletedAt && r.status === 'ready' && (!r.key || !objectSet.has(r.key)));
      const liveKeys = new Set(rows.filter((r) => !r.deletedAt && r.key).map((r) => r.key!));
      const unreferenced = objects.filter((key) => !liveKeys.has(key));
      const byBytes = new Map<string, string[]>();
      for (const key of objects) {
        const got = await fetchServed(stage, key);
        if (got) byBytes.set(got.sha256, [...(byBytes.get(got.sha256) ?? []), key]);
      }
      const sameBytes = [...byBytes.values()].filter((keys) => keys.length > 1);
      const perFile = midDownload.map((f) => stage.bot.stats.downloadsByFileId.get(f.fileId) ?? 0);

      const checks: Check[] = [
        { name: 'every DELETE answered 204', ok: deleteErrors.length === 0, detail: deleteErrors.slice(0, 3).join('; ') },
        { name: 'deleted assets were gone at once (404 while their jobs were held)', ok: visibleWhileHeld.length === 0, detail: JSON.stringify(visibleWhileHeld.slice(0, 3)) },
        { name: 'deleted assets stay gone (404, never listed)', ok: visibleAtEnd.length === 0 && listedDeleted.length === 0, detail: `${visibleAtEnd.length} answered, ${listedDeleted.length} listed` },
        { name: 'no ready asset without its object', ok: readyWithoutObject.length === 0, detail: readyWithoutObject.slice(0, 3).map((r) => r.id).join(', ') },
        { name: 'nothing under i/ that no live asset refers to', ok: unreferenced.length === 0, detail: unreferenced.slice(0, 3).join(', ') },
        { name: 'no two objects with the same bytes', ok: sameBytes.length === 0, detail: sameBytes.slice(0, 3).map((keys) => keys.join(' = ')).join('; ') },
        { name: 'every hold was reached', ok: penGetFile.total >= k && penDownload.total >= k && penUrl.total >= k },
        { name: 'every job finished (before the files were requested again, and at the end)', ok: settledBeforeAgain && settledAtEnd },
      ];
      result.checks.push(...checks);
      Object.assign(result.notes, {
        deleted: deletedIds.length,
        listing,
        requestedAgain: again.length,
        downloadsPerSharedFile: perFile,
        objectsWithSameBytes: sameBytes.length,
        unreferencedObjects: unreferenced.length,
      });
      result.summary = `${deletedIds.length} deleted while held, ${again.length} requested again; Telegram downloads per shared file: ${perFile.join(', ')}; ${sameBytes.length} objects with the same bytes`;
      return result;
    } finally {
      openAll();
      await queues.close();
      await stage.close();
      await origin.close();
    }
  },
};
