/**
 * Image facts and the near-duplicate search (issue 14), as prepared statements on the same
 * plain-`pg` pool as AssetsRepo.
 *
 * Facts describe the stored bytes: an asset sharing another's object copies its facts
 * (`copyShared`) instead of decoding the same bytes again.
 *
 * Search is multi-index hashing: AssetPhash keeps each analysed asset's 64-bit pHash split into
 * four 16-bit bands, each indexed after the owner. Two hashes within Hamming distance d differ
 * in at most d bits, so (pigeonhole) at least one of the four bands differs in at most
 * floor(d / 4) bits. A query therefore asks each band's index for the few values within that
 * radius of its own band (137 values at radius 2, i.e. d ≤ 11) and checks the exact distance of
 * those candidates only. Past radius 3 (d ≥ 16) the probes cost more than they save, and the
 * owner's hashes are scanned instead (the same index, by its `ownerKey` prefix).
 */
import type { Asset } from './generated/prisma/client.js';
import type { SqlPool } from './sql.js';

export interface ImageFactsRow {
  placeholder: string;
  dominantColor: string;
  /** 16 lower-case hex characters. */
  phash: string;
}

/** What the analysis found: facts, or why there are none. */
export type AnalysisOutcome = { facts: ImageFactsRow } | { error: { code: string; message: string } };

export interface SimilarItem {
  asset: Asset;
  distance: number;
}

export type SimilarAnswer =
  | { status: 'ok'; items: SimilarItem[] }
  | { status: 'not_found' }
  | { status: 'not_analyzed'; reason: string };

export interface SimilarOptions {
  maxDistance: number;
  limit: number;
  /** `index` (default: bands, or a scan past radius 4) or `scan` (the owner's hashes, for the bench's comparison). */
  strategy?: 'index' | 'scan';
}

/** Owner scope as one indexable value: "o" + ownerId, "" for no owner (which matches only no owner). */
export const ownerKeyOf = (ownerId: string | null): string => (ownerId === null ? '' : `o${ownerId}`);

const BANDS = 4;
const BAND_BITS = 16;
/**
 * Largest band radius probed through the index (697 values a band at 3, i.e. d ≤ 15). At 4
 * (2,517 values a band) the bench measured the probes slower than scanning 100,000 hashes.
 */
const MAX_PROBE_RADIUS = 3;

/** The four 16-bit bands of a 16-hex hash, most significant first. */
export function bandsOf(phash: string): number[] {
  return Array.from({ length: BANDS }, (_, i) => Number.parseInt(phash.slice(i * 4, i * 4 + 4), 16));
}

/** The hash as PostgreSQL's signed bigint (same 64 bits), in decimal. */
export const phashToBigint = (phash: string): string => BigInt.asIntN(64, BigInt(`0x${phash}`)).toString();

/** Every 16-bit value within Hamming distance `radius` of `value` (`value` first). */
export function bandProbes(value: number, radius: number): number[] {
  const out = [value];
  const flip = (from: number, start: number, left: number) => {
    for (let bit = start; bit < BAND_BITS; bit++) {
      const v = from ^ (1 << bit);
      out.push(v);
      if (left > 1) flip(v, bit + 1, left - 1);
    }
  };
  if (radius > 0) flip(value, 0, radius);
  return out;
}

/**
 * One statement, so one round trip and atomic: the facts on a live ready asset and, with a hash,
 * its row in the band index. `recorded` says whether the asset was still live and ready.
 */
const RECORD = `WITH u AS (
    UPDATE "Asset" SET placeholder = $2, "dominantColor" = $3, phash = $4, "analysisError" = $5,
      "analyzedAt" = now(), "updatedAt" = now()
    WHERE id = $1 AND status = 'ready' AND "deletedAt" IS NULL AND ($11::text IS NULL OR key = $11) RETURNING "ownerId"
  ), i AS (
    INSERT INTO "AssetPhash" ("assetId", "ownerKey", phash, b0, b1, b2, b3)
    SELECT $1, CASE WHEN u."ownerId" IS NULL THEN '' ELSE 'o' || u."ownerId" END, $6::bigint, $7, $8, $9, $10
    FROM u WHERE $4::text IS NOT NULL
    ON CONFLICT ("assetId") DO UPDATE SET "ownerKey" = EXCLUDED."ownerKey", phash = EXCLUDED.phash,
      b0 = EXCLUDED.b0, b1 = EXCLUDED.b1, b2 = EXCLUDED.b2, b3 = EXCLUDED.b3
  )
  SELECT count(*)::int AS recorded FROM u`;

/** Candidates → exact distance → live, ready assets, nearest first (ties: newest first). */
const rankedSelect = (candidates: string) => `SELECT a.*, c.distance FROM (
    SELECT "assetId", bit_count((phash # $2::bigint)::bit(64))::int AS distance FROM "AssetPhash" WHERE ${candidates}
  ) c JOIN "Asset" a ON a.id = c."assetId"
  WHERE c.distance <= $3 AND c."assetId" <> $4::uuid AND a.status = 'ready' AND a."deletedAt" IS NULL
  ORDER BY c.distance, a."createdAt" DESC, a.id
  LIMIT $5`;

const SIMILAR_BY_BANDS = rankedSelect(
  `"ownerKey" = $1 AND (b0 = ANY($6::int[]) OR b1 = ANY($7::int[]) OR b2 = ANY($8::int[]) OR b3 = ANY($9::int[]))`,
);
const SIMILAR_BY_SCAN = rankedSelect(`"ownerKey" = $1`);

export class AnalysisRepo {
  constructor(private readonly pool: SqlPool) {}

  /**
   * Records the outcome on a live ready asset (false when it is not one any more) and, with a
   * hash, indexes it for search — in one statement, so a hash is searchable exactly when the
   * asset shows it. Given `key`, only while that is still the object the asset names: facts
   * computed from one run's bytes never land on another run's object.
   */
  async record(assetId: string, outcome: AnalysisOutcome, key: string | null = null): Promise<boolean> {
    const facts = 'facts' in outcome ? outcome.facts : null;
    const error = 'error' in outcome ? `${outcome.error.code}: ${outcome.error.message}` : null;
    const bands = facts ? bandsOf(facts.phash) : [null, null, null, null];
    const res = await this.pool.query({
      name: 'analysis_record',
      text: RECORD,
      values: [
        assetId,
        facts?.placeholder ?? null,
        facts?.dominantColor ?? null,
        facts?.phash ?? null,
        error?.slice(0, 1000) ?? null,
        facts ? phashToBigint(facts.phash) : null,
        ...bands,
        key,
      ],
    });
    return (res.rows[0] as { recorded: number }).recorded > 0;
  }

  /**
   * What the analysis of a live asset starts from, in one statement: the asset, and the outcome
   * already recorded for the same stored object by another asset (deleted or not: the bytes under
   * a key never change), null when none was analysed yet. Null when the asset is gone.
   */
  async target(assetId: string): Promise<{ asset: Asset; shared: AnalysisOutcome | null } | null> {
    const res = await this.pool.query({
      name: 'analysis_target',
      text: `SELECT a.*, s.placeholder AS "sharedPlaceholder", s."dominantColor" AS "sharedDominantColor",
          s.phash AS "sharedPhash", s."analysisError" AS "sharedAnalysisError", s.id IS NOT NULL AS "sharedFound"
        FROM "Asset" a LEFT JOIN LATERAL (
          SELECT o.id, o.placeholder, o."dominantColor", o.phash, o."analysisError" FROM "Asset" o
          WHERE o."key" = a."key" AND o.id <> a.id AND o."analyzedAt" IS NOT NULL ORDER BY o."analyzedAt" DESC LIMIT 1
        ) s ON true
        WHERE a.id = $1 AND a."deletedAt" IS NULL`,
      values: [assetId],
    });
    const row = res.rows[0] as
      | (Asset & {
          sharedPlaceholder: string | null;
          sharedDominantColor: string | null;
          sharedPhash: string | null;
          sharedAnalysisError: string | null;
          sharedFound: boolean;
        })
      | undefined;
    if (!row) return null;
    const { sharedPlaceholder, sharedDominantColor, sharedPhash, sharedAnalysisError, sharedFound, ...asset } = row;
    if (!sharedFound) return { asset, shared: null };
    if (sharedPhash && sharedPlaceholder && sharedDominantColor) {
      return { asset, shared: { facts: { placeholder: sharedPlaceholder, dominantColor: sharedDominantColor, phash: sharedPhash } } };
    }
    const [code, ...rest] = (sharedAnalysisError ?? 'undecodable: unknown').split(': ');
    return { asset, shared: { error: { code: code!, message: rest.join(': ') } } };
  }

  /** Live ready assets not analysed yet, by id after `afterId` (the backfill's keyset). */
  async unanalysed(afterId: string | null, limit: number): Promise<string[]> {
    const res = await this.pool.query({
      name: 'analysis_unanalysed',
      text: `SELECT id FROM "Asset" WHERE status = 'ready' AND "deletedAt" IS NULL AND "analyzedAt" IS NULL
        AND ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
      values: [afterId, limit],
    });
    return res.rows.map((r: { id: string }) => r.id);
  }

  /** How many live ready assets are not analysed yet (the backfill's total). */
  async countUnanalysed(): Promise<number> {
    const res = await this.pool.query({
      name: 'analysis_count_unanalysed',
      text: `SELECT count(*)::int AS n FROM "Asset" WHERE status = 'ready' AND "deletedAt" IS NULL AND "analyzedAt" IS NULL`,
    });
    return (res.rows[0] as { n: number }).n;
  }

  /**
   * Live, ready, analysed assets of the same owner within `maxDistance` of the asset's pHash,
   * nearest first, the asset itself excluded.
   */
  async similar(assetId: string, opts: SimilarOptions): Promise<SimilarAnswer> {
    const res = await this.pool.query({
      name: 'analysis_similar_origin',
      text: `SELECT "ownerId", status, phash, "analyzedAt", "analysisError" FROM "Asset" WHERE id = $1 AND "deletedAt" IS NULL`,
      values: [assetId],
    });
    const origin = res.rows[0] as
      | { ownerId: string | null; status: string; phash: string | null; analyzedAt: Date | null; analysisError: string | null }
      | undefined;
    if (!origin) return { status: 'not_found' };
    if (!origin.phash) {
      const reason =
        origin.status !== 'ready'
          ? `the asset is ${origin.status}, not ready`
          : origin.analyzedAt
            ? `the image could not be analysed (${origin.analysisError ?? 'unknown'})`
            : 'the image has not been analysed yet';
      return { status: 'not_analyzed', reason };
    }
    const radius = Math.floor(opts.maxDistance / BANDS);
    const scan = opts.strategy === 'scan' || radius > MAX_PROBE_RADIUS;
    const common = [ownerKeyOf(origin.ownerId), phashToBigint(origin.phash), opts.maxDistance, assetId, opts.limit];
    const query = scan
      ? { name: 'analysis_similar_scan', text: SIMILAR_BY_SCAN, values: common }
      : {
          name: 'analysis_similar_bands',
          text: SIMILAR_BY_BANDS,
          values: [...common, ...bandsOf(origin.phash).map((b) => bandProbes(b, radius))],
        };
    const found = await this.pool.query(query);
    return {
      status: 'ok',
      items: found.rows.map((r: Asset & { distance: number }) => {
        const { distance, ...asset } = r;
        return { asset: asset as Asset, distance };
      }),
    };
  }
}
