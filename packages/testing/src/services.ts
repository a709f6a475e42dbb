/**
 * Real services for tests: PostgreSQL, Redis and an S3-compatible server, reached over
 * real connections. Each suite gets its own PostgreSQL schema, Redis key prefix and
 * bucket, so suites run in parallel and leave nothing behind.
 *
 * Where the local services are not reachable and a Docker engine is, PostgreSQL and
 * Redis are started with testcontainers (and the repo's S3 image, docker/s3). Our CI
 * machines have no Docker engine and run PostgreSQL/Redis locally; `./test.sh` starts
 * the S3 server (scripts/s3-server.sh).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ObjectStore, type ObjectStoreConfig } from '@rehost/storage';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MIGRATIONS_DIR = path.join(REPO_ROOT, 'prisma/migrations');

export interface ServiceUrls {
  /** Database that holds the per-suite schemas. */
  databaseUrl: string;
  redisUrl: string;
  s3: Pick<ObjectStoreConfig, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'forcePathStyle'>;
}

const rand = (n = 6) => randomBytes(n).toString('hex');

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

let resolved: Promise<ServiceUrls> | undefined;

/** Where the services are: environment, then local defaults, then testcontainers. */
export function serviceUrls(): Promise<ServiceUrls> {
  resolved ??= resolveServices();
  return resolved;
}

async function resolveServices(): Promise<ServiceUrls> {
  let databaseUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/rehost_test';
  let redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const s3Endpoint = process.env.TEST_S3_ENDPOINT ?? process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7480';

  const db = new URL(databaseUrl);
  if (!(await reachable(db.hostname, Number(db.port || 5432)))) {
    databaseUrl = await startContainer('postgres');
  }
  const r = new URL(redisUrl);
  if (!(await reachable(r.hostname, Number(r.port || 6379)))) {
    redisUrl = await startContainer('redis');
  }
  const s = new URL(s3Endpoint);
  if (!(await reachable(s.hostname, Number(s.port || 80)))) {
    throw new Error(`S3 server not reachable at ${s3Endpoint}: run scripts/s3-server.sh start (./test.sh does)`);
  }
  await ensureDatabase(databaseUrl);
  return {
    databaseUrl,
    redisUrl,
    s3: {
      endpoint: s3Endpoint,
      region: process.env.S3_REGION ?? 'auto',
      accessKeyId: process.env.TEST_S3_ACCESS_KEY_ID ?? process.env.S3_ACCESS_KEY_ID ?? 'rehostdevaccesskey00',
      secretAccessKey:
        process.env.TEST_S3_SECRET_ACCESS_KEY ?? process.env.S3_SECRET_ACCESS_KEY ?? 'rehostdevsecretkey0000000000000000000000',
      forcePathStyle: true,
    },
  };
}

async function startContainer(kind: 'postgres' | 'redis'): Promise<string> {
  // Only reached on a machine without local services; testcontainers needs a Docker engine.
  if (kind === 'postgres') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const c = await new PostgreSqlContainer('postgres:16-alpine').withUsername('postgres').withPassword('postgres').start();
    return `postgresql://postgres:postgres@${c.getHost()}:${c.getPort()}/rehost_test`;
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const c = await new RedisContainer('redis:7-alpine').start();
  return c.getConnectionUrl();
}

async function ensureDatabase(databaseUrl: string): Promise<void> {
  const u = new URL(databaseUrl);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err; // created concurrently by another suite
      });
    }
  } finally {
    await client.end();
  }
}

/** Applies the committed migrations, in order, inside `schema`. */
export async function applyMigrations(client: pg.Client, schema: string): Promise<void> {
  const dirs = readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  await client.query(`SET search_path TO "${schema}"`);
  for (const dir of dirs) {
    await client.query(readFileSync(path.join(MIGRATIONS_DIR, dir, 'migration.sql'), 'utf8'));
  }
}

export interface TestDatabase {
  /** DATABASE_URL for the app, pointing at this suite's schema. */
  url: string;
  schema: string;
  /** Raw SQL access for assertions. */
  query: <T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<T>>;
  drop: () => Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const { databaseUrl } = await serviceUrls();
  const schema = `t_${rand()}`;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`CREATE SCHEMA "${schema}"`);
  await applyMigrations(client, schema);
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  return {
    url: url.toString(),
    schema,
    query: (sql, params) => client.query(sql, params as unknown[]),
    drop: async () => {
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    },
  };
}

export interface TestRedis {
  url: string;
  /** Queue prefix for this suite, hash-tagged like production's. */
  prefix: string;
  redis: Redis;
  cleanup: () => Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const { redisUrl } = await serviceUrls();
  const prefix = `{t-${rand()}}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  return {
    url: redisUrl,
    prefix,
    redis,
    cleanup: async () => {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

export interface TestBucket {
  bucket: string;
  store: ObjectStore;
  config: ObjectStoreConfig;
  /** Anonymous origin serving the bucket, like an R2 custom domain. */
  publicBaseUrl: string;
  cleanup: () => Promise<void>;
}

export async function createTestBucket(overrides: Partial<ObjectStoreConfig> = {}): Promise<TestBucket> {
  const { s3 } = await serviceUrls();
  const bucket = `t-${rand()}`;
  const config: ObjectStoreConfig = { ...s3, bucket, partSize: 5 * 1024 * 1024, queueSize: 4, ...overrides };
  const store = new ObjectStore(config);
  await store.ensureBucket({ corsOrigins: ['*'], publicRead: true });
  return {
    bucket,
    store,
    config,
    publicBaseUrl: `${s3.endpoint}/${bucket}`,
    cleanup: async () => {
      await store.abortMultipartUploads('').catch(() => undefined);
      for (;;) {
        const keys = await store.listKeys('');
        if (keys.length === 0) break;
        await Promise.all(keys.map((k) => store.delete(k)));
      }
      await store.deleteBucket().catch(() => undefined);
      store.destroy();
    },
  };
}

export interface TestServices {
  db: TestDatabase;
  redis: TestRedis;
  bucket: TestBucket;
  /** Environment for the apps' config parsers, pointing at this suite's isolated resources. */
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** Everything one integration suite needs, isolated. Call `cleanup` in afterAll. */
export async function createTestServices(extraEnv: Record<string, string> = {}): Promise<TestServices> {
  const [db, redis, bucket] = await Promise.all([createTestDatabase(), createTestRedis(), createTestBucket()]);
  const { s3 } = await serviceUrls();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    S3_ENDPOINT: s3.endpoint!,
    S3_REGION: s3.region,
    S3_BUCKET: bucket.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId!,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey!,
    S3_FORCE_PATH_STYLE: 'true',
    PUBLIC_BASE_URL: bucket.publicBaseUrl,
    API_TOKENS: 'test-token',
    S3_PART_SIZE_BYTES: String(5 * 1024 * 1024),
    ...extraEnv,
  };
  return {
    db,
    redis,
    bucket,
    env,
    cleanup: async () => {
      await Promise.allSettled([db.drop(), redis.cleanup(), bucket.cleanup()]);
    },
  };
}
