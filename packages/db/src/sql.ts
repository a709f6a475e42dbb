/**
 * Plain `pg` for the hot path. Prisma owns the schema, the migrations and the row types
 * (`Asset` is generated from prisma/schema.prisma); the per-request and per-job statements run
 * as named prepared statements on this pool, because Prisma 6.19's client engine costs
 * 1.3–1.9 ms of CPU per call against ~0.2 ms here (measured: docs/BENCHMARKS.md).
 */
import pg from 'pg';

export type SqlPool = pg.Pool;
export type SqlClient = pg.PoolClient;

const TIMESTAMP_OID = 1114;

/**
 * Prisma stores `DateTime` as `timestamp(3)` (no zone) holding UTC; pg would read it as local
 * time. Parsed as UTC here, per pool (pg's global type registry is left alone).
 */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === TIMESTAMP_OID) return (v: string) => new Date(`${v.replace(' ', 'T')}Z`);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export interface CreateSqlOptions {
  /** Pool size per process. @defaultValue 10 */
  max?: number;
}

/** A `?schema=` in the URL selects the PostgreSQL schema (tests give each suite its own). */
export function createSql(databaseUrl: string, opts: CreateSqlOptions = {}): SqlPool {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema');
  url.searchParams.delete('schema');
  // Sessions run in UTC so now() agrees with the UTC values Prisma writes.
  const options = ['-c timezone=UTC', ...(schema ? [`-c search_path="${schema.replace(/"/g, '')}"`] : [])].join(' ');
  const pool = new pg.Pool({ connectionString: url.toString(), max: opts.max ?? 10, connectionTimeoutMillis: 5000, options, types });
  // An idle client whose server went away emits 'error' on the pool; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/**
 * A Date as a `timestamp(3)` literal in UTC (pg would send local time with an offset, which a
 * column without a zone silently drops).
 */
export const toSqlTimestamp = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

/** deadlock_detected, serialization_failure: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Runs `fn` in one transaction on one connection; rolls back on any error. A transaction that
 * PostgreSQL aborted as a deadlock victim (locks taken in another order by a rare interleaving) is
 * run again, at most twice more.
 */
export async function inTransaction<T>(pool: SqlPool, fn: (c: SqlClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (attempt < 3 && RETRYABLE.has((err as { code?: string }).code ?? '')) continue;
      throw err;
    } finally {
      client.release();
    }
  }
}

/** PostgreSQL's unique_violation (23505), optionally on one constraint. */
export function isPgUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
