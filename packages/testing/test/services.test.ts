import { afterAll, describe, expect, it } from '@jest/globals';
import { createTestBucket, createTestDatabase, createTestRedis, createTestServices, serviceUrls } from '../src/index.js';

describe('test harness: real services, isolated per suite', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(cleanups.map((c) => c()));
  });

  it('finds real PostgreSQL, Redis and S3 servers', async () => {
    const urls = await serviceUrls();
    expect(urls.databaseUrl).toMatch(/^postgres(ql)?:\/\//);
    expect(urls.redisUrl).toMatch(/^rediss?:\/\//);
    expect(urls.s3.endpoint).toMatch(/^https?:\/\//);
  });

  it('gives each suite its own PostgreSQL schema with the migrations applied, and drops it', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    expect(a.schema).not.toBe(b.schema);
    await a.query(`INSERT INTO "${a.schema}"."Asset" (id, status, "sourceType", "updatedAt") VALUES (gen_random_uuid(), 'queued', 'url', now())`);
    const inA = await a.query(`SELECT count(*)::int AS n FROM "${a.schema}"."Asset"`);
    const inB = await b.query(`SELECT count(*)::int AS n FROM "${b.schema}"."Asset"`);
    expect([inA.rows[0]!.n, inB.rows[0]!.n]).toEqual([1, 0]);
    expect(new URL(a.url).searchParams.get('schema')).toBe(a.schema);
    await a.drop();
    const left = await b.query(`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = $1`, [a.schema]);
    expect(left.rows[0]!.n).toBe(0);
    await b.drop();
  });

  it('gives each suite its own hash-tagged Redis prefix and removes its keys', async () => {
    const r = await createTestRedis();
    expect(r.prefix).toMatch(/^\{t-[0-9a-f]+\}$/);
    await r.redis.set(`${r.prefix}:x`, '1');
    const other = await createTestRedis();
    cleanups.push(other.cleanup);
    await other.redis.set(`${other.prefix}:x`, '2');
    await r.cleanup();
    expect(await other.redis.get(`${r.prefix}:x`)).toBeNull();
    expect(await other.redis.get(`${other.prefix}:x`)).toBe('2');
  });

  it('gives each suite its own bucket, publicly readable only under i/, and removes it', async () => {
    const b = await createTestBucket();
    await b.store.put('i/pub.txt', 'public', 'text/plain');
    await b.store.put('staging/priv.txt', 'private', 'text/plain');
    expect((await fetch(`${b.publicBaseUrl}/i/pub.txt`)).status).toBe(200);
    expect((await fetch(`${b.publicBaseUrl}/staging/priv.txt`)).status).toBe(403);
    await b.cleanup();
    expect((await fetch(`${b.publicBaseUrl}/i/pub.txt`)).status).toBeGreaterThanOrEqual(400);
  });

  it('createTestServices hands the apps an environment pointing at all three', async () => {
    const s = await createTestServices();
    cleanups.push(s.cleanup);
    expect(s.env.DATABASE_URL).toBe(s.db.url);
    expect(s.env.QUEUE_PREFIX).toBe(s.redis.prefix);
    expect(s.env.S3_BUCKET).toBe(s.bucket.bucket);
    expect(s.env.PUBLIC_BASE_URL).toBe(s.bucket.publicBaseUrl);
  });
});
