import { hostname } from 'node:os';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection suitable for BullMQ workers and blocking reads:
 * `maxRetriesPerRequest: null` lets commands wait out a reconnect instead of failing.
 *
 * `url` is `REDIS_URL`: `redis[s]://[user:password@]host:port[/db]` for one Redis, or a
 * Redis Cluster seed with `?cluster=true` — `redis://host:7001?cluster=true`, more seeds with
 * `&nodes=host2:7002,host3:7003`. The other nodes are discovered from the seed. Every key we
 * use carries the QUEUE_PREFIX hash tag (`{rehost}`), so each queue and the event stream live in
 * one slot, as BullMQ and multi-key scripts require.
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  const cluster = parseClusterUrl(url);
  const options: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, ...opts };
  if (!cluster) return new Redis(url, options);
  // A Cluster answers the same commands (and `duplicate()`, `disconnect()`); BullMQ detects it
  // itself. Typed as Redis so that the rest of the code does not care which it got.
  return new Cluster(cluster.nodes, {
    enableReadyCheck: true,
    redisOptions: { ...options, ...cluster.redisOptions },
  }) as unknown as Redis;
}

/**
 * Name for a process's Redis connections (`CLIENT SETNAME`), so `CLIENT LIST` tells an operator which
 * process holds which connection, and a connection can be killed on purpose (`CLIENT KILL ID`, the
 * fault suite). BullMQ names its blocking connections itself (`<prefix>:<base64 queue>`).
 */
export const redisClientName = (app: string): string => `rehost-${app}-${hostname()}-${process.pid}`;

/** `?cluster=true` URLs → seed nodes and per-node options; undefined for a single Redis. */
export function parseClusterUrl(url: string): { nodes: { host: string; port: number }[]; redisOptions: RedisOptions } | undefined {
  const u = new URL(url);
  if (!['true', '1', 'yes'].includes(u.searchParams.get('cluster') ?? '')) return undefined;
  const seed = `${u.hostname}:${u.port || '6379'}`;
  const extra = (u.searchParams.get('nodes') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const nodes = [seed, ...extra].map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = i > 0 ? hp.slice(0, i).replace(/^\[|\]$/g, '') : hp;
    const port = i > 0 ? Number(hp.slice(i + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('REDIS_URL: malformed cluster node in nodes=');
    return { host, port };
  });
  const redisOptions: RedisOptions = {};
  if (u.username) redisOptions.username = decodeURIComponent(u.username);
  if (u.password) redisOptions.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') redisOptions.tls = {};
  return { nodes, redisOptions };
}

export type { Redis } from 'ioredis';
