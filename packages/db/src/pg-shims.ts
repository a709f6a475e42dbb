/**
 * Three small shims around @prisma/adapter-pg 6.19 that make Prisma's JS schema
 * engine (migrations without a native engine download) work against PostgreSQL.
 * Only the migration CLI (prisma.config.ts) loads this file; no app does.
 *
 * 1. prisma/orm#27403: result columns of type `name`/`char` (OIDs 19/18, arrays
 *    1003/1002), which the schema engine's introspection queries return, fail to
 *    deserialize ("UnsupportedNativeDataType"). We report them as text (25) and
 *    text[] (1009); pg already hands their values over as strings.
 * 2. The shadow database: the stock adapter spreads its config and sets
 *    `database`, which a `connectionString` silently overrides (the "shadow"
 *    pool then points at the main database), and it drops the shadow database
 *    while its own pool still holds connections. We pass discrete
 *    host/user/password/database fields and close the shadow pool first.
 * 3. `executeScript` splits a migration at every `;` — also inside a `$$ … $$` function body
 *    or a comment — and runs the pieces one by one. We send the script whole, as one simple
 *    query (PostgreSQL runs it as one implicit transaction: a migration applies whole or not at all).
 *
 * Remove them when the adapter fixes them; `packages/db/test/migrations.test.ts` shows whether it has.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';

const TEXT_FOR_OID: Record<number, number> = { 19: 25, 18: 25, 1003: 1009, 1002: 1009 };

type QueryResultLike = { fields?: { dataTypeID: number }[] };

function rewriteFields<T>(result: T): T {
  const fields = (result as QueryResultLike | undefined)?.fields;
  if (fields) {
    for (const field of fields) {
      const text = TEXT_FOR_OID[field.dataTypeID];
      if (text !== undefined) field.dataTypeID = text;
    }
  }
  return result;
}

type QueryFn = (...args: unknown[]) => unknown;

function patchQuery(target: { query: QueryFn }): void {
  const original = target.query.bind(target);
  target.query = (...args: unknown[]) => {
    const out = original(...args);
    if (out && typeof (out as Promise<unknown>).then === 'function') {
      return (out as Promise<unknown>).then(rewriteFields);
    }
    return out;
  };
}

/** A pg.Pool whose results never carry the OIDs Prisma cannot read (shim 1). */
export class TextNamePool extends pg.Pool {
  constructor(config: pg.PoolConfig) {
    super(config);
    patchQuery(this as unknown as { query: QueryFn });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(...args: unknown[]): Promise<pg.PoolClient> | void {
    if (args.length > 0) return (super.connect as (...a: unknown[]) => void)(...args);
    return super.connect().then((client) => {
      const marked = client as pg.PoolClient & { __rehostPatched?: boolean };
      if (!marked.__rehostPatched) {
        patchQuery(client as unknown as { query: QueryFn });
        marked.__rehostPatched = true;
      }
      return client;
    });
  }
}

/** Splits a connection string into the discrete fields pg uses (shim 2 needs them). */
export function poolConfigFromUrl(url: string): pg.PoolConfig {
  const u = new URL(url);
  return {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
  };
}

interface ScriptRunner {
  executeScript(script: string): Promise<void>;
  underlyingDriver(): { query(sql: string): Promise<unknown> };
}

/** Shim 3: the whole script in one simple query; errors reported the adapter's way. */
function runScriptsWhole<T extends object>(conn: T): T {
  const c = conn as unknown as ScriptRunner & { onError(err: unknown): never };
  const driver = c.underlyingDriver();
  c.executeScript = async (script: string) => {
    try {
      await driver.query(script);
    } catch (error) {
      c.onError(error);
    }
  };
  return conn;
}

/** Driver adapter factory for the Prisma CLI (migrate) with the shims applied. */
export class MigrationPg extends PrismaPg {
  private readonly poolConfig: pg.PoolConfig;

  constructor(poolConfig: pg.PoolConfig, schema?: string) {
    super(new TextNamePool(poolConfig), schema ? { schema } : undefined);
    this.poolConfig = poolConfig;
  }

  override async connect() {
    return runScriptsWhole(await super.connect());
  }

  override async connectToShadowDb() {
    const main = await this.connect();
    const database = `prisma_migrate_shadow_db_${globalThis.crypto.randomUUID().replaceAll('-', '')}`;
    await main.executeScript(`CREATE DATABASE "${database}"`);
    const shadowPool = new TextNamePool({ ...this.poolConfig, database });
    const shadow = runScriptsWhole(await new PrismaPg(shadowPool, { disposeExternalPool: true }).connect());
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose(); // ends the shadow pool first, or DROP DATABASE would fail
      await main.executeScript(`DROP DATABASE IF EXISTS "${database}"`);
      await main.dispose();
    };
    return shadow;
  }
}

export function createMigrationAdapter(databaseUrl: string): MigrationPg {
  const schema = new URL(databaseUrl).searchParams.get('schema') ?? undefined;
  return new MigrationPg(poolConfigFromUrl(databaseUrl), schema);
}
