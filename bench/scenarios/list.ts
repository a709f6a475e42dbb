/**
 * list: GET /v1/assets?ownerId=…'s query (OwnersRepo.listAssets, the statement the route runs)
 * for an owner with 1,000,000 live assets among 1,100,000 rows (some deleted), one page of 50 at
 * a time: the first page, pages deep into a keyset walk, and pages filtered by status — p99 of
 * one query against the `(ownerId, createdAt DESC, id DESC)` index. Seeded with INSERT … SELECT
 * over generate_series, not a request per asset.
 */
import { OwnersRepo } from '../../packages/db/src/index.js';
import {
  type BenchContext,
  benchServices,
  describeCpu,
  percentile,
  producer,
  resources,
  round,
  type ScenarioResult,
  startPhase,
  target,
} from '../lib.js';

const OWNER = 'bench-lister';

export async function list(ctx: BenchContext): Promise<ScenarioResult> {
  const ownerAssets = ctx.smoke ? 20_000 : 1_000_000;
  const others = ctx.smoke ? 2_000 : 100_000;
  const walks = ctx.smoke ? 5 : 40;
  const res = resources();
  try {
    const services = res.add(await benchServices(), (s) => s.cleanup());
    const p = res.add(await producer(services), (x) => x.close());
    const sql = p.sql;

    const phase = startPhase();
    // The per-owner usage counter is a row trigger (a million updates of one counter row); this
    // scenario measures listing, so the seed runs without it (its schema is the scenario's own).
    await sql.query('ALTER TABLE "Asset" DISABLE TRIGGER "Asset_owner_usage"');
    // One owner's assets over the last 30 days, 5% of them deleted and 10% failed; other owners beside them.
    await sql.query(
      `INSERT INTO "Asset" (id, status, "sourceType", "sourceUrl", "ownerId", "key", "contentType", size, width, height,
         "createdAt", "deletedAt", "updatedAt")
       SELECT gen_random_uuid(), (CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'ready' END)::"AssetStatus", 'url', 'https://example.com/x.jpg',
         $2, 'i/' || md5(i::text) || '.jpg', 'image/jpeg', 100000, 640, 480,
         now() - (i * interval '2.5 seconds'), CASE WHEN i % 20 = 0 THEN now() END, now()
       FROM generate_series(1, $1) AS i`,
      [ownerAssets, OWNER],
    );
    await sql.query(
      `INSERT INTO "Asset" (id, status, "sourceType", "sourceUrl", "ownerId", "createdAt", "updatedAt")
       SELECT gen_random_uuid(), 'queued', 'url', 'https://example.com/y.jpg', 'other-' || (i % 1000), now() - (i * interval '1 second'), now()
       FROM generate_series(1, $1) AS i`,
      [others],
    );
    await sql.query('ALTER TABLE "Asset" ENABLE TRIGGER "Asset_owner_usage"');
    await sql.query('ANALYZE "Asset"');
    const seedMs = phase.end().ms;
    ctx.log(`seeded ${ownerAssets + others} assets in ${round(seedMs / 1000)} s`);

    const repo = new OwnersRepo(sql);
    const ms: number[] = [];
    const timed = async <T>(run: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const rows = await run();
      ms.push(performance.now() - t0);
      return rows;
    };
    // Warm-up: the statement and the index's upper levels.
    for (let i = 0; i < 5; i++) await repo.listAssets({ ownerId: OWNER }, 51);

    const q = startPhase();
    let pages = 0;
    for (let w = 0; w < walks; w++) {
      // A walk of 10 pages starting somewhere in the owner's history (deep keyset pages cost the same as the first).
      const start = await repo.listAssets({ ownerId: OWNER }, 1, { createdAt: new Date(Date.now() - Math.random() * 2_400_000_000), id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' });
      let after = start[0] ? { createdAt: start[0].createdAt, id: start[0].id } : undefined;
      for (let page = 0; page < 10; page++) {
        const rows = await timed(() => repo.listAssets({ ownerId: OWNER, ...(page % 3 === 2 ? { status: 'ready' as const } : {}) }, 51, after));
        pages++;
        const last = rows.at(49);
        if (!last) break;
        after = { createdAt: last.createdAt, id: last.id };
      }
    }
    const cpu = q.end().cpu;
    const p50 = percentile(ms, 50);
    const p99 = percentile(ms, 99);
    ctx.log(`list p50 ${round(p50, 2)} ms, p99 ${round(p99, 2)} ms over ${pages} pages`);
    return {
      owner_assets: ownerAssets,
      total_assets: ownerAssets + others,
      pages,
      seed_s: round(seedMs / 1000),
      p50_ms: round(p50, 2),
      p99_ms: round(p99, 2),
      targets: {
        p99: target('p99 of one page <= 20 ms (an owner with 1,000,000 assets)', p99, p99 <= 20),
      },
      limited_by: describeCpu(cpu),
      measured_at: new Date().toISOString(),
    };
  } finally {
    await res.close();
  }
}
