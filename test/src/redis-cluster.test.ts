/**
 * Redis Cluster: the whole app (API, workers, completion events) on a 3-node cluster, reached
 * through REDIS_URL=redis://127.0.0.1:7001?cluster=true, with a hash-tagged queue prefix.
 * Needs redis-server; starts its own cluster with scripts/redis-cluster.sh on free ports (several
 * suites, or several checkouts on one machine, may run at once) and stops it afterwards. With
 * REDIS_CLUSTER_PORTS set, uses the cluster on those ports (started unless it runs; left running). Without redis-server the suite is skipped on a developer machine, and
 * fails under CI (`CI=true`): a CI run must never pass without having run it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedis, eventStreamKey, parseClusterUrl, type Redis } from '@rehost/jobs';
import { makePng } from '@rehost/testing';
import { putUpload, waitTerminal } from './helpers.js';
import { freePort } from './processes.js';
import { type Stack, startStack } from './stack.js';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/redis-cluster.sh');
const hasRedisServer = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? '');

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** Three free ports whose cluster-bus ports (+10000) are free too. */
async function clusterPorts(): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < 3 && tries < 100; tries++) {
    const p = await freePort();
    if (p + 10_000 <= 65_535 && !ports.includes(p) && (await canListen(p + 10_000))) ports.push(p);
  }
  if (ports.length < 3) throw new Error('found no free ports for a Redis Cluster');
  return ports;
}

if (!hasRedisServer && inCi) {
  describe('the app on a Redis Cluster', () => {
    it('can run: redis-server and redis-cli are installed', () => {
      throw new Error('CI=true but redis-server/redis-cli are not on PATH: install redis-server (scripts/redis-cluster.sh needs it)');
    });
  });
}

describe('parseClusterUrl', () => {
  it('reads seeds and credentials from a ?cluster=true URL, and leaves plain URLs alone', () => {
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeUndefined();
    expect(parseClusterUrl('redis://127.0.0.1:6379?cluster=false')).toBeUndefined();
    expect(parseClusterUrl('rediss://u:p%40ss@h1:7001?cluster=true&nodes=h2:7002,[::1]:7003')).toEqual({
      nodes: [
        { host: 'h1', port: 7001 },
        { host: 'h2', port: 7002 },
        { host: '::1', port: 7003 },
      ],
      redisOptions: { username: 'u', password: 'p@ss', tls: {} },
    });
    expect(() => parseClusterUrl('redis://h1:7001?cluster=true&nodes=h2:notaport')).toThrow(/malformed cluster node/);
  });
});

(hasRedisServer ? describe : describe.skip)('the app on a Redis Cluster', () => {
  let startedHere = false;
  let clusterUrl: string;
  let stack: Stack;
  let cluster: Redis;
  let scriptEnv: NodeJS.ProcessEnv = process.env;

  beforeAll(async () => {
    if (!process.env.REDIS_CLUSTER_PORTS) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'rehost-redis-cluster-'));
      scriptEnv = { ...process.env, REDIS_CLUSTER_PORTS: (await clusterPorts()).join(' '), REDIS_CLUSTER_DIR: dir };
    }
    try {
      execFileSync(SCRIPT, ['status'], { stdio: 'ignore', env: scriptEnv });
    } catch {
      execFileSync(SCRIPT, ['start'], { stdio: 'inherit', env: scriptEnv });
      startedHere = true;
    }
    clusterUrl = execFileSync(SCRIPT, ['url'], { encoding: 'utf8', env: scriptEnv }).trim();
    stack = await startStack({ env: { REDIS_URL: clusterUrl } });
    cluster = createRedis(clusterUrl);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    if (cluster) {
      // This suite's keys live on the cluster (the fixture cleans only the standalone Redis).
      const prefix = stack?.services.env.QUEUE_PREFIX;
      const nodes = (cluster as unknown as { nodes(role: 'master'): Redis[] }).nodes('master');
      for (const node of prefix ? nodes : []) {
        const keys = await node.keys(`${prefix}*`);
        if (keys.length) await node.del(...keys);
      }
      cluster.disconnect();
    }
    if (startedHere) execFileSync(SCRIPT, ['stop'], { stdio: 'inherit', env: scriptEnv });
  });

  it('API, worker and events all use cluster connections', () => {
    expect((stack.apiCtx.redis as unknown as { isCluster?: boolean }).isCluster).toBe(true);
    expect((stack.workerCtx!.redis as unknown as { isCluster?: boolean }).isCluster).toBe(true);
    expect(stack.services.env.QUEUE_PREFIX).toMatch(/^\{[^}]+\}$/);
  });

  it('runs an upload through the queue, the worker and the completion event stream', async () => {
    const png = makePng(16, 16);
    const created = await stack.call('/v1/uploads', { method: 'POST', json: { contentType: 'image/png', size: png.length } });
    expect(created.status).toBe(201);
    expect(await putUpload(created.body.upload, png)).toBe(200);
    expect((await stack.call(`/v1/uploads/${created.body.assetId}/complete`, { method: 'POST' })).status).toBe(202);
    // The long-poll answers from the event stream (AssetEventHub on the cluster).
    const asset = await waitTerminal(stack, created.body.assetId);
    expect(asset).toMatchObject({ status: 'ready', width: 16, height: 16 });

    const prefix = stack.services.env.QUEUE_PREFIX!;
    const events = (await cluster.xrange(eventStreamKey(prefix), '-', '+')) as [string, string[]][];
    expect(events.map(([, f]) => JSON.parse(f[1]!).assetId)).toContain(created.body.assetId);
    // Everything of the suite's prefix sits in the one slot of its hash tag.
    const slot = (key: string) => cluster.call('CLUSTER', 'KEYSLOT', key) as Promise<number>;
    const queueSlot = await slot(`${prefix}:finalize-upload:id`);
    expect(await slot(eventStreamKey(prefix))).toBe(queueSlot);
    const owner = (cluster as unknown as { nodes(role: 'master'): Redis[] }).nodes('master');
    const holding = await Promise.all(owner.map(async (n) => (await n.keys(`${prefix}*`)).length));
    expect(holding.filter((n) => n > 0)).toHaveLength(1);
  });
});
