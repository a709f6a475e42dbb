/**
 * (13) An owner erased while its worker dies. Owner X holds ready Telegram rehosts (some of them
 * sharing their object with owner Y's asset of the same file), pending web uploads (half with
 * their bytes PUT to staging, never completed) and a few jobs held mid-download (the Bot API
 * double sends headers, then waits); owner Y holds its own rehosts. `DELETE
 * /v1/owners/X/assets` starts the erasure (202 {erasureId}); the worker's S3 traffic goes through
 * the fault proxy, whose hook holds the erasure's third object DELETE — the worker is SIGKILLed
 * there (mid-erasure, at the step that takes longest in practice), a new worker started, the
 * held downloads let go, and `GET /v1/erasures/:id` polled (bounded) until `done`.
 *
 * Promised (issue 15, CONTRACT.md §3): nothing of Y is lost (every Y asset ready, its URL serves
 * its sha256 — objects shared with X included); nothing of X is left (listing empty, every X id
 * 404, usage {0,0,0}, a `deleted` event per asset); no object under `i/` or `staging/` that no
 * live asset refers to; the erasure's record counts every asset (deleted == total).
 */
import { JobQueues } from '../../packages/jobs/src/index.js';
import { putUpload } from '../../test/src/helpers.js';
import { addFiles, downloadsStarted, Pen } from '../lib/files.js';
import { openStage } from '../lib/stage.js';
import { submitTelegram } from '../lib/submit.js';
import { type Check, fetchServed, listAll, readAssets, type Submission, tally, usageOf } from '../lib/tally.js';
import { until } from '../lib/wait.js';
import { startS3FaultProxy } from '../s3-fault-proxy.js';
import { jobsSettled } from './delete-while-running.js';
import type { Scenario } from './types.js';

const X = 'erasure-owner-x';
const Y = 'erasure-owner-y';
/** The erasure's object DELETE (counted from the request) at which the worker dies. */
const KILL_AT_DELETE = 3;

interface ErasureView {
  erasureId: string;
  status: 'running' | 'done';
  deleted: number;
  total: number;
  startedAt: string;
  finishedAt: string | null;
}

export const erasure: Scenario = {
  name: 'erasure',
  async run(run) {
    const started = Date.now();
    const n = run.smoke ? { own: 6, shared: 2, pending: 2, held: 2, y: 3 } : { own: 40, shared: 10, pending: 8, held: 4, y: 12 };
    const totalX = n.own + n.shared + n.pending + n.held;
    const fault =
      `erase owner X (${totalX} assets: ${n.own} ready rehosts, ${n.shared} sharing Y's object, ${n.pending} pending uploads, ${n.held} jobs held mid-download); ` +
      `SIGKILL the worker at the erasure's object DELETE #${KILL_AT_DELETE}, start another`;
    const penDownload = new Pen();
    const penDelete = new Pen();
    const stage = await openStage(this.name, run, { WORKER_CONCURRENCY: String(n.held + 4) });
    const direct = new URL(stage.env.S3_ENDPOINT!);
    const proxy = await startS3FaultProxy({ host: direct.hostname, port: Number(direct.port || 80) });
    const queues = new JobQueues(stage.services.redis.redis, stage.services.redis.prefix);
    const openAll = () => {
      for (const p of [penDownload, penDelete]) p.open();
    };
    try {
      stage.env.S3_ENDPOINT = proxy.url;
      stage.env.S3_FORCE_PATH_STYLE = 'true';
      const api = await stage.startApi();
      const victim = await stage.startWorker();
      const client = stage.client(api.baseUrl);
      const deadline = Date.now() + (run.smoke ? 60_000 : 120_000);
      const auth = { authorization: `Bearer ${stage.token}` };
      const call = async <T>(path: string, method = 'GET'): Promise<{ status: number; body: T | undefined }> => {
        const res = await fetch(`${api.baseUrl}${path}`, { method, headers: auth });
        const text = await res.text();
        return { status: res.status, body: text ? (JSON.parse(text) as T) : undefined };
      };

      /** The setup's rehosts must be terminal before the erasure; if not, say where the jobs stand. */
      const settledOrThrow = async (who: string, subs: Submission[]) => {
        const { pending } = await stage.tracker.waitAll(
          subs.flatMap((s) => [...s.assetIds]),
          Math.min(deadline, Date.now() + 30_000),
        );
        if (pending.length === 0) return;
        const counts = Object.fromEntries(
          await Promise.all(
            Object.entries(queues.queues).map(async ([name, q]) => [name, await q.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'failed')] as const),
          ),
        );
        throw new Error(`${pending.length} of ${who}'s rehosts not terminal after 30 s; jobs: ${JSON.stringify(counts)}`);
      };

      // 1. Y's assets first (the shared files' downloaders), then X's: rehosts, shares, uploads, held jobs.
      const ownFiles = addFiles(stage.bot, 'ex', n.own, { size: 40_000 });
      const sharedFiles = addFiles(stage.bot, 'es', n.shared, { size: 40_000 });
      const yFiles = addFiles(stage.bot, 'ey', n.y, { size: 40_000 });
      const heldFiles = addFiles(stage.bot, 'eh', n.held, { size: 40_000, pen: penDownload });
      const uploadFiles = addFiles(stage.bot, 'eu', n.pending, { size: 40_000 }); // bytes only
      const ySubs = await Promise.all([...yFiles, ...sharedFiles].map((f) => submitTelegram(client, f, { ownerId: Y, deadline, withUniqueId: true })));
      await settledOrThrow('Y', ySubs);
      const xSubs: Submission[] = await Promise.all([
        ...ownFiles.map((f) => submitTelegram(client, f, { ownerId: X, deadline })),
        ...sharedFiles.map((f) => submitTelegram(client, f, { ownerId: X, deadline, withUniqueId: true })),
      ]);
      await settledOrThrow('X', xSubs);
      const pendingIds: string[] = [];
      for (const [i, f] of uploadFiles.entries()) {
        const created = await client.createUpload({ contentType: 'image/png', size: f.bytes.length, ownerId: X });
        // Half with their bytes in staging (PUT, never completed), half never PUT.
        if (i % 2 === 0 && (await putUpload(created.upload, f.bytes)) !== 200) throw new Error('PUT to staging failed');
        pendingIds.push(created.assetId);
      }
      const heldDownloads = downloadsStarted(n.held);
      const heldSubs = await Promise.all(heldFiles.map((f) => submitTelegram(client, f, { ownerId: X, deadline })));
      await Promise.all([penDownload.arrived(n.held), heldDownloads]);
      const xIds = [...xSubs, ...heldSubs].flatMap((s) => [...s.assetIds]).concat(pendingIds);
      const usageBefore = await usageOf(stage, X, api.baseUrl);

      // 2. Erase X; the worker dies at the erasure's third object DELETE.
      let deletes = 0;
      let heldPath = '';
      proxy.setHold((method, path) => {
        if (method !== 'DELETE' || ++deletes !== KILL_AT_DELETE) return undefined;
        heldPath = path;
        return penDelete.hold();
      });
      const first = await call<{ erasureId: string; status: string }>(`/v1/owners/${X}/assets`, 'DELETE');
      const again = await call<{ erasureId: string; status: string }>(`/v1/owners/${X}/assets`, 'DELETE');
      const erasureId = first.body?.erasureId;
      if (first.status !== 202 || !erasureId) throw new Error(`DELETE /v1/owners/${X}/assets answered ${first.status} ${JSON.stringify(first.body)}`);
      // Bounded: an erasure that never reaches its DELETEs fails the checks below, not the run.
      const reached = await penDelete.arrived(1).then(
        () => true,
        () => false,
      );
      const atKill = (await call<ErasureView>(`/v1/erasures/${erasureId}`)).body;
      victim.kill('SIGKILL');
      await victim.exited;
      // The proxy sees the dead worker's connection close (bounded): the held DELETE is then dropped, never forwarded.
      const heldDropped = await until(async () => proxy.stats.heldClientsGone, (g) => g >= 1, 5_000, 20).then(
        () => true,
        () => false,
      );
      proxy.setHold(undefined);
      openAll();
      await stage.startWorker();

      // 3. Bounded poll until done; then every job of the scenario has finished.
      const final = await until(
        async () => (await call<ErasureView>(`/v1/erasures/${erasureId}`)).body,
        (e) => e?.status === 'done',
        Math.max(1_000, Math.min(30_000, deadline - Date.now())),
        200,
      ).catch(() => undefined);
      const settled = await jobsSettled(queues, Math.max(1_000, Math.min(30_000, deadline - Date.now())));

      // Y's assets are judged by the tally (0 lost, objects, staging, usage of both owners).
      const result = await tally(stage, ySubs, { name: this.name, fault, started, deadline, notes: {}, owners: [X, Y] });

      // Nothing of X is left.
      const listed: unknown[] = [];
      const listing = await call<{ items: unknown[] }>(`/v1/assets?ownerId=${X}&limit=200`);
      listed.push(...(listing.body?.items ?? []));
      const answered = (await Promise.all(xIds.map(async (id) => ({ id, status: (await call(`/v1/assets/${id}`)).status })))).filter((r) => r.status !== 404);
      const usageAfter = await usageOf(stage, X, api.baseUrl);
      const deletedEvents = new Set(stage.tracker.all.filter((e) => e.status === 'deleted').map((e) => e.assetId));
      const noEvent = xIds.filter((id) => !deletedEvents.has(id));
      const rows = await readAssets(stage);
      const xRows = rows.filter((r) => xIds.includes(r.id));
      const readyX = xRows.filter((r) => r.status === 'ready' && !r.deletedAt);

      // Objects shared with Y still served; nothing under i/ that no live asset refers to.
      const yKeyOf = new Map(rows.filter((r) => ySubs.some((s) => s.assetIds.has(r.id))).map((r) => [r.id, r.key]));
      const sharedServed = await Promise.all(
        sharedFiles.map(async (f, i) => {
          const id = [...ySubs[n.y + i]!.assetIds][0]!;
          const key = yKeyOf.get(id);
          return Boolean(key) && (await fetchServed(stage, key!))?.sha256 === f.sha256;
        }),
      );
      const liveKeys = new Set(rows.filter((r) => !r.deletedAt && r.key).map((r) => r.key!));
      const unreferenced = (await listAll(stage, 'i/')).filter((k) => !liveKeys.has(k));

      const usageZero = 'assets' in usageAfter && usageAfter.assets === 0 && usageAfter.bytes === 0 && usageAfter.pending === 0;
      const checks: Check[] = [
        { name: 'DELETE /v1/owners/X/assets answered 202, a second one the same erasure', ok: first.status === 202 && again.status === 202 && again.body?.erasureId === erasureId, detail: `${first.status}, ${again.status}` },
        {
          name: "the worker was killed mid-erasure (0 < deleted < total), its held DELETE never reached S3",
          ok: reached && heldDropped && Boolean(atKill && atKill.status === 'running' && atKill.deleted > 0 && atKill.deleted < atKill.total),
          detail: JSON.stringify(atKill && { status: atKill.status, deleted: atKill.deleted, total: atKill.total }),
        },
        { name: 'the erasure ended done (bounded poll)', ok: final?.status === 'done', detail: JSON.stringify(final ?? null) },
        {
          name: `the erasure's record counts every asset (deleted == total == ${xIds.length})`,
          ok: final?.deleted === xIds.length && final.total === xIds.length,
          detail: `deleted ${final?.deleted}, total ${final?.total}`,
        },
        { name: "X's listing is empty", ok: listing.status === 200 && listed.length === 0, detail: `${listing.status}, ${listed.length} items` },
        { name: 'every X asset id answers 404', ok: answered.length === 0, detail: JSON.stringify(answered.slice(0, 3)) },
        { name: "X's usage is {assets:0, bytes:0, pending:0}", ok: usageZero, detail: JSON.stringify(usageAfter) },
        { name: 'no X asset ended ready (held jobs end deleted)', ok: readyX.length === 0, detail: readyX.slice(0, 3).map((r) => r.id).join(', ') },
        { name: 'a deleted event for every X asset', ok: noEvent.length === 0, detail: `${noEvent.length} without: ${noEvent.slice(0, 3).join(', ')}` },
        { name: 'objects shared with Y are still served', ok: sharedServed.every(Boolean), detail: `${sharedServed.filter(Boolean).length} of ${n.shared}` },
        { name: 'nothing under i/ that no live asset refers to', ok: unreferenced.length === 0, detail: unreferenced.slice(0, 3).join(', ') },
        { name: 'every job finished', ok: settled },
      ];
      result.checks.push(...checks);
      Object.assign(result.notes, {
        xAssets: xIds.length,
        yAssets: ySubs.length,
        usageBefore,
        atKill: atKill && { deleted: atKill.deleted, total: atKill.total },
        erasure: final && { deleted: final.deleted, total: final.total },
        proxy: { ...proxy.stats },
        unreferencedObjects: unreferenced.length,
        withoutDeletedEvent: noEvent.length,
        // The held (then dropped) DELETE, and the X assets without a deleted event.
        heldDelete: heldPath.replace(/^\/[^/]+\//, '').replace(/\?.*$/, ''),
        withoutEvent: xRows
          .filter((r) => noEvent.includes(r.id))
          .slice(0, 5)
          .map((r) => ({ id: r.id, status: r.status, key: r.key, stagingKey: r.stagingKey, deleted: Boolean(r.deletedAt) })),
      });
      result.summary =
        `${xIds.length} X assets erased (${final?.deleted ?? '?'}/${final?.total ?? '?'} counted), killed at ${atKill?.deleted ?? '?'}; ` +
        `${result.ready}/${ySubs.length} Y assets served; ${unreferenced.length} stray objects`;
      return result;
    } finally {
      openAll();
      proxy.setHold(undefined);
      await queues.close();
      await stage.close();
      await proxy.close();
    }
  },
};
