import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { serviceUrls } from '@rehost/testing';
import { TextNamePool } from '../src/pg-shims.js';

const run = promisify(execFile);
const dbDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

describe('pg shims for Prisma migrate (see src/pg-shims.ts)', () => {
  it('reports name/char columns as text so the schema engine can read them', async () => {
    const { databaseUrl } = await serviceUrls();
    const pool = new TextNamePool({ connectionString: databaseUrl });
    pools.push(pool);
    const res = await pool.query({ text: "SELECT 'x'::name AS n, 'y'::\"char\" AS c, ARRAY['z'::name] AS a", rowMode: 'array' });
    expect(res.fields.map((f) => f.dataTypeID)).toEqual([25, 25, 1009]);
    // Without the shim the OIDs are the ones Prisma's adapter cannot map:
    const raw = new pg.Pool({ connectionString: databaseUrl });
    pools.push(raw);
    const plain = await raw.query({ text: "SELECT 'x'::name AS n", rowMode: 'array' });
    expect(plain.fields[0]!.dataTypeID).toBe(19);
  });

  it('prisma migrate deploy applies the committed migrations to a fresh database, offline', async () => {
    const { databaseUrl } = await serviceUrls();
    const name = `migrate_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    try {
      const url = new URL(databaseUrl);
      url.pathname = `/${name}`;
      const env = { ...process.env, DATABASE_URL: url.toString(), PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_QUERY_ENGINE_LIBRARY: '/bin/false' };
      const { stdout } = await run('npx', ['prisma', 'migrate', 'deploy', '--config', 'prisma.config.ts'], { cwd: dbDir, env });
      expect(stdout).toContain('successfully applied');
      const check = new pg.Client({ connectionString: url.toString() });
      await check.connect();
      const { rows } = await check.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`);
      await check.end();
      expect(rows[0].n).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('the schema and the committed migrations agree (diff through a shadow database)', async () => {
    const { databaseUrl } = await serviceUrls();
    const env = { ...process.env, DATABASE_URL: databaseUrl, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_QUERY_ENGINE_LIBRARY: '/bin/false' };
    const { stdout } = await run(
      'npx',
      ['prisma', 'migrate', 'diff', '--config', 'prisma.config.ts', '--from-migrations', '../../prisma/migrations', '--to-schema-datamodel', '../../prisma/schema.prisma', '--exit-code'],
      { cwd: dbDir, env },
    );
    expect(stdout).toContain('No difference detected');
    // The shadow database was dropped again (shim 2).
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'`);
    await admin.end();
    expect(rows).toEqual([]);
  });
});
