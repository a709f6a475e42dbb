import { OwnersRepo } from '@rehost/db';
import { publishAssetEvent, removeAsset } from '@rehost/jobs';
import type { WorkerContext } from '../context.js';
import type { Processor } from './types.js';

/** Assets removed per page (each with DELETE's semantics). */
const PAGE = 100;

/**
 * Erases an owner's assets created up to the erasure's cutoff, a page at a time, with DELETE's
 * semantics per asset (shared objects stay while another live asset refers to them). Resumable:
 * a run after a crash continues with what is still live. Jobs of the owner still in flight end
 * `deleted` (their compare-and-set fails and they delete their own object).
 */
export const erasure: Processor<'erasure'> = async ({ data, log }, ctx) => {
  const owners = new OwnersRepo(ctx.sql);
  const record = await owners.getErasure(data.erasureId);
  if (!record) return { erasureId: data.erasureId, status: 'gone', deleted: 0 };
  if (record.status === 'done' || !record.ownerId) return { erasureId: record.id, status: 'done', deleted: record.deleted };
  const removal = removalFor(ctx);
  // A run cut short may have soft-deleted assets and died before their objects and events:
  // finish those first (deleting an object no live asset refers to, announcing again is harmless).
  for (let after: string | undefined; ; ) {
    const gone = await owners.erasedAssets(record, PAGE, after);
    if (gone.length === 0) break;
    const live = await owners.liveKeys(gone.flatMap((a) => (a.key ? [a.key] : [])));
    for (const a of gone) {
      const keys = [a.stagingKey, a.key && !live.has(a.key) ? a.key : null].filter((k): k is string => Boolean(k));
      await Promise.all(keys.map((k) => removal.deleteObject(k).catch((err) => removal.warn(err, 'object delete failed'))));
      await removal.publish({ assetId: a.id, status: 'deleted' }).catch((err) => removal.warn(err, 'deleted event not published'));
    }
    after = gone[gone.length - 1]!.id;
  }
  let deleted = 0;
  for (;;) {
    const ids = await owners.erasableAssets(record.ownerId, record.cutoff, PAGE);
    if (ids.length === 0) break;
    for (const id of ids) {
      // Counted one by one, so a run cut short leaves the count of what it really removed.
      if (!(await removeAsset(removal, id))) continue;
      await owners.countErased(record.id, 1);
      deleted++;
    }
  }
  await owners.finishErasure(record.id);
  const finished = await owners.getErasure(record.id);
  log.info({ deleted: finished?.deleted }, 'owner erased');
  return { erasureId: record.id, status: 'done', deleted: finished?.deleted ?? record.deleted + deleted };
};

function removalFor(ctx: WorkerContext) {
  return {
    softDelete: (id: string) => ctx.assets.softDelete(id),
    deleteObject: (key: string) => ctx.store.delete(key),
    publish: (event: Parameters<typeof publishAssetEvent>[2]) => publishAssetEvent(ctx.redis, ctx.config.QUEUE_PREFIX, event),
    warn: (err: unknown, message: string) => ctx.log.warn({ err }, message),
  };
}
