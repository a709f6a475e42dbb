/**
 * (12) Many owners, one file: 20 owners rehost the same Telegram file (each request its own asset,
 * with its own ownerId), then 10 of them DELETE theirs at the same moment, then the other 10.
 * Dedupe shares the stored bytes, never an asset (CONTRACT.md §3): 20 asset ids, one download,
 * one object. After the first 10 deletes the other 10 are still served (their URL returns the
 * bytes); the object goes only with the last delete — also when the last deletes race.
 */
import { addFiles } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { type Check, fetchServed, listAll, type Submission, tally } from '../lib/tally.js';
import type { Scenario } from './types.js';

const OWNERS = 20;

export const manyOwners: Scenario = {
  name: 'many-owners-one-file',
  async run(run) {
    const started = Date.now();
    const nFiles = run.smoke ? 1 : 4;
    const fault = `${OWNERS} owners rehost the same Telegram file (${nFiles} file${nFiles > 1 ? 's' : ''}, half naming fileUniqueId); ${OWNERS / 2} DELETE theirs concurrently, then the other ${OWNERS / 2}`;
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: '4' });
    try {
      const api = await stage.startApi();
      await stage.startWorker();
      const client = stage.client(api.baseUrl);
      // Slow enough that the requests overlap with the file's first download.
      const files = addFiles(stage.bot, 'mo', nFiles, { size: 300_000, bytesPerSecond: 1_000_000 });
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);

      const perFile = await Promise.all(
        files.map((f) =>
          Promise.all(
            Array.from({ length: OWNERS }, (_, o) => submitTelegram(client, f, { deadline, ownerId: `${f.fileId}-owner-${o}`, withUniqueId: o % 2 === 0 })),
          ),
        ),
      );
      const subs: Submission[] = perFile.flat();
      const result = await tally(stage, subs, { name: this.name, fault, started, deadline, notes: {} });

      const view = async (id: string) => {
        const res = await fetch(`${api.baseUrl}/v1/assets/${id}`, { headers: { authorization: `Bearer ${stage.token}` } });
        const body = res.status === 200 ? ((await res.json()) as { status: string; key?: string; ownerId?: string; sha256?: string }) : undefined;
        if (!body) await res.arrayBuffer();
        return { status: res.status, body };
      };
      const del = async (id: string) =>
        (await fetch(`${api.baseUrl}/v1/assets/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${stage.token}` } })).status;

      const problems: string[] = [];
      const owned: string[] = [];
      const servedAfterHalf: string[] = [];
      const goneAfterAll: string[] = [];
      for (const [i, fileSubs] of perFile.entries()) {
        const f = files[i]!;
        const ids = fileSubs.map((s) => [...s.assetIds][0]).filter((id): id is string => Boolean(id));
        const views = await Promise.all(ids.map(view));
        // Own asset per request: 20 ids, each with its own owner, one shared key.
        const owners = new Set(views.map((v) => v.body?.ownerId));
        const keys = new Set(views.map((v) => v.body?.key));
        if (new Set(ids).size === OWNERS && owners.size === OWNERS && keys.size === 1) owned.push(f.fileId);
        else problems.push(`${f.fileId}: ${new Set(ids).size} asset ids, ${owners.size} owners, ${keys.size} keys for ${OWNERS} requests`);
        const key = [...keys][0];
        if (!key || new Set(ids).size !== OWNERS) continue;

        // The first half deletes at once: the other half is still served.
        const [gone, kept] = [ids.slice(0, OWNERS / 2), ids.slice(OWNERS / 2)];
        const first = await Promise.all(gone.map(del));
        const keptViews = await Promise.all(kept.map(view));
        const served = await fetchServed(stage, key);
        const goneViews = await Promise.all(gone.map(view));
        if (
          first.every((s) => s === 204) &&
          goneViews.every((v) => v.status === 404) &&
          keptViews.every((v) => v.status === 200 && v.body?.status === 'ready' && v.body.key === key) &&
          served?.sha256 === f.sha256
        ) {
          servedAfterHalf.push(f.fileId);
        } else {
          problems.push(
            `${f.fileId} after ${OWNERS / 2} deletes: DELETE ${[...new Set(first)].join('/')}, deleted ones answer ${[...new Set(goneViews.map((v) => v.status))].join('/')}, ` +
              `kept ones ${[...new Set(keptViews.map((v) => `${v.status} ${v.body?.status ?? ''}`))].join('/')}, URL ${served ? (served.sha256 === f.sha256 ? 'serves the file' : 'serves other bytes') : 'serves nothing'}`,
          );
        }

        // The second half deletes at once: the last of them takes the object.
        const second = await Promise.all(kept.map(del));
        const after = await fetchServed(stage, key);
        const left = (await listAll(stage, 'i/')).filter((k) => k === key);
        if (second.every((s) => s === 204) && !after && left.length === 0) goneAfterAll.push(f.fileId);
        else problems.push(`${f.fileId} after all deletes: DELETE ${[...new Set(second)].join('/')}, URL ${after ? 'still serves' : 'gone'}, ${left.length} object left`);
      }

      const downloads = files.map((f) => stage.bot.stats.downloadsByFileId.get(f.fileId) ?? 0);
      const checks: Check[] = [
        { name: `every request got its own asset (${OWNERS} ids and owners per file), sharing one object`, ok: owned.length === nFiles, detail: `${owned.length} of ${nFiles} files` },
        { name: 'one download per file', ok: downloads.every((d) => d === 1), detail: downloads.join(', ') },
        { name: `after ${OWNERS / 2} concurrent deletes the other ${OWNERS / 2} are still served`, ok: servedAfterHalf.length === nFiles, detail: `${servedAfterHalf.length} of ${nFiles} files` },
        { name: 'the object is gone after the last (concurrent) delete', ok: goneAfterAll.length === nFiles, detail: `${goneAfterAll.length} of ${nFiles} files` },
      ];
      result.checks.push(...checks);
      result.problems.push(...problems.slice(0, 20 - result.problems.length));
      result.notes.downloadsPerFile = downloads;
      result.summary = `${result.notes.assets} assets for ${subs.length} requests; downloads per file: ${downloads.join(', ')}; object gone after the last delete for ${goneAfterAll.length} of ${nFiles} files`;
      return result;
    } finally {
      await stage.close();
    }
  },
};
