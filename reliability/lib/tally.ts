/**
 * Counting a scenario: waits (on completion events, bounded) for every accepted submission to
 * be announced, then judges from the database and the bucket:
 *
 * - lost: a submission never accepted (the client tried until its deadline), accepted but never
 *   terminal, ended `failed` although its input is valid (only a submission marked
 *   `expectFailure` may fail), or ready while its permanent URL does not serve exactly the bytes
 *   the asset reports (sha256 and size) and the source sent;
 * - duplicates: objects under `i/` beyond one per distinct source file (a stray object that no
 *   live asset refers to counts too), plus assets beyond one per idempotency key the clients sent;
 * - leftovers under `staging/`: objects of assets that are terminal or deleted (or unknown),
 *   reported as a failed check;
 * - usage: for every owner with an asset row (and any the scenario names), `GET
 *   /v1/owners/:ownerId/usage` equals a recount from the rows (live, not failed or expired:
 *   count; `size` of ready ones; `declaredSize` of the others), a failed check otherwise.
 */
import { JobQueues, runMaintenanceAndWait, TERMINAL_STATUSES } from '../../packages/jobs/src/index.js';
import { sha256 } from '../../packages/testing/src/index.js';
import type { Stage } from './stage.js';

export interface Submission {
  /** Identity of the source file: submissions of one file may share one object. */
  file: string;
  sha256: string;
  /**
   * For a source whose bytes change between requests: any of these (filled as the origin serves)
   * is the source's; the stored bytes must still be exactly what the asset reports.
   */
  sha256s?: Set<string>;
  /** The input is meant to fail (an invalid image…): `failed` is its expected end, not a loss. */
  expectFailure?: boolean;
  /** The idempotency key the client sent (`key:<key>`): one asset per value is promised. */
  claim?: string;
  /** Asset ids the API answered with (one per successful call). */
  assetIds: Set<string>;
  /** Of those, the ones answered already terminal (200 with a ready asset): no event need follow. */
  answeredTerminal: Set<string>;
  accepted: boolean;
  /** Refused with 429 (back-pressure): told to come back later, not lost. */
  refused?: boolean;
  /** Why it was never accepted. */
  error?: string;
}

export const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

export const submission = (file: { fileId?: string; sha256: string }, claim?: string, fileKey?: string): Submission => ({
  file: fileKey ?? file.fileId ?? file.sha256,
  sha256: file.sha256,
  ...(claim ? { claim } : {}),
  assetIds: new Set(),
  answeredTerminal: new Set(),
  accepted: false,
});

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ScenarioResult {
  name: string;
  /** What was done to the system. */
  fault: string;
  submitted: number;
  ready: number;
  failed: number;
  lost: number;
  duplicates: number;
  refused: number;
  durationMs: number;
  /** Scenario-specific conditions beyond lost/duplicates (e.g. 429s carry Retry-After). */
  checks: Check[];
  /** Measurements and counts worth reading (fault proxy stats, p99, downloads …). */
  notes: Record<string, unknown>;
  failedCodes: Record<string, number>;
  /** Up to 20 explanations of what was lost or duplicated. */
  problems: string[];
  /** The scenario's key figures in a few words, for the table. */
  summary?: string;
}

interface Row {
  id: string;
  status: string;
  key: string | null;
  stagingKey: string | null;
  sha256: string | null;
  size: number | null;
  errorCode: string | null;
  deletedAt: Date | null;
  ownerId: string | null;
}

/** One run of the `sweep-staging` task, as the schedule would run it; bounded (15 s), its errors only logged. */
async function sweepStagingNow(stage: Stage): Promise<void> {
  const { redis, prefix } = stage.services.redis;
  const queues = new JobQueues(redis, prefix);
  try {
    await runMaintenanceAndWait(queues.queues.maintenance, redis, 'sweep-staging', 15_000);
  } catch (err) {
    console.warn(`   sweep-staging: ${(err as Error).message}`);
  } finally {
    await queues.close();
  }
}

/** Every key under `prefix` (all pages). */
export async function listAll(stage: Stage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const { objects, done } = await stage.services.bucket.store.listObjects(prefix, { startAfter, limit: 1000 });
    keys.push(...objects.map((o) => o.key));
    if (done || objects.length === 0) break;
    startAfter = objects.at(-1)!.key;
  }
  return keys;
}

/** The bytes a permanent URL serves, hashed (undefined when it serves nothing). */
export async function fetchServed(stage: Stage, key: string): Promise<{ sha256: string; size: number } | undefined> {
  const res = await fetch(`${stage.services.env.PUBLIC_BASE_URL}/${key}`);
  if (!res.ok) {
    await res.arrayBuffer().catch(() => undefined);
    return undefined;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { sha256: sha256(bytes), size: bytes.length };
}

export const readAssets = async (stage: Stage): Promise<Row[]> => {
  const { db } = stage.services;
  const { rows } = await db.query<Row>(
    `SELECT id, status, key, "stagingKey", sha256, size, "errorCode", "deletedAt", "ownerId" FROM "${db.schema}"."Asset"`,
  );
  return rows;
};

export async function tally(
  stage: Stage,
  subs: Submission[],
  opts: { deadline: number; name: string; fault: string; started: number; checks?: Check[]; notes?: Record<string, unknown>; owners?: string[] },
): Promise<ScenarioResult> {
  const ids = subs.flatMap((s) => [...s.assetIds]);
  const answeredTerminal = new Set(subs.flatMap((s) => [...s.answeredTerminal]));
  // An asset answered already terminal has no job: its event may never come (the database judges it).
  const { pending } = await stage.tracker.waitAll(
    ids.filter((id) => !answeredTerminal.has(id)),
    opts.deadline,
  );

  const { bucket } = stage.services;
  const rows = await readAssets(stage);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const problems: string[] = [];
  const failedCodes: Record<string, number> = {};
  let ready = 0;
  let failed = 0;
  let lost = 0;
  let refused = 0;
  let duplicates = 0;

  // Bytes at the permanent URL, once per key.
  const served = new Map<string, ReturnType<typeof fetchServed>>();
  const servedAt = (key: string) => {
    let p = served.get(key);
    if (!p) {
      p = fetchServed(stage, key);
      served.set(key, p);
    }
    return p;
  };

  for (const s of subs) {
    if (s.refused && !s.accepted) {
      refused++;
      continue;
    }
    if (!s.accepted) {
      lost++;
      problems.push(`${s.file}: never accepted (${s.error ?? 'no answer'})`);
      continue;
    }
    const assets = [...s.assetIds].map((id) => byId.get(id));
    const missing = assets.findIndex((a) => !a);
    if (missing >= 0) {
      lost++;
      problems.push(`${s.file}: accepted as ${[...s.assetIds][missing]}, which is not in the database`);
      continue;
    }
    const live = assets as Row[];
    const open = live.find((a) => !(TERMINAL_STATUSES as readonly string[]).includes(a.status));
    if (open) {
      lost++;
      problems.push(`${s.file}: asset ${open.id} never reached a terminal state (${open.status})`);
      continue;
    }
    const readyOnes = live.filter((a) => a.status === 'ready');
    if (readyOnes.length === 0) {
      failed++;
      for (const a of live) failedCodes[a.errorCode ?? a.status] = (failedCodes[a.errorCode ?? a.status] ?? 0) + 1;
      // Every input of the suite is a valid image unless marked otherwise: failing it loses it.
      if (!s.expectFailure) {
        lost++;
        problems.push(`${s.file}: valid input ended ${live.map((a) => `${a.status} (${a.errorCode ?? '-'})`).join(', ')}`);
      }
      continue;
    }
    let bad: string | undefined;
    for (const a of readyOnes) {
      const got = a.key ? await servedAt(a.key) : undefined;
      const fromSource = s.sha256s ? s.sha256s.has(a.sha256 ?? '') : a.sha256 === s.sha256;
      if (!got) bad = `${s.file}: asset ${a.id} is ready but its URL serves nothing`;
      else if (got.sha256 !== a.sha256 || got.size !== a.size) bad = `${s.file}: asset ${a.id} is ready but its URL serves other bytes than it reports`;
      else if (!fromSource) bad = `${s.file}: asset ${a.id} reports bytes the source never sent`;
    }
    if (bad) {
      lost++;
      problems.push(bad);
    } else {
      ready++;
    }
  }

  // One asset per claim (idempotency key).
  const byClaim = new Map<string, Set<string>>();
  for (const s of subs) {
    if (!s.claim) continue;
    const set = byClaim.get(s.claim) ?? new Set<string>();
    for (const id of s.assetIds) set.add(id);
    byClaim.set(s.claim, set);
  }
  for (const [claim, set] of byClaim) {
    if (set.size > 1) {
      duplicates += set.size - 1;
      problems.push(`${claim}: ${set.size} assets for one claim (${[...set].join(', ')})`);
    }
  }

  // One object per distinct file. An object belongs to the files of the live assets that refer
  // to its key (keys are the server's choice: never parsed here).
  const fileOf = new Map<string, string>();
  for (const s of subs) for (const id of s.assetIds) fileOf.set(id, s.file);
  const filesOfKey = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.key || r.deletedAt) continue;
    const set = filesOfKey.get(r.key) ?? new Set<string>();
    set.add(fileOf.get(r.id) ?? `(asset ${r.id})`);
    filesOfKey.set(r.key, set);
  }
  const objectsPerFile = new Map<string, string[]>();
  for (const key of await listAll(stage, 'i/')) {
    const files = filesOfKey.get(key) ?? new Set([`(no live asset: ${key})`]);
    for (const file of files) objectsPerFile.set(file, [...(objectsPerFile.get(file) ?? []), key]);
  }
  for (const [file, keys] of objectsPerFile) {
    // An object no live asset refers to is a stray: every one counts.
    const extra = file.startsWith('(no live asset') ? keys.length : keys.length - 1;
    if (extra > 0) {
      duplicates += extra;
      problems.push(`${file}: ${keys.length} objects (${keys.slice(0, 3).join(', ')})`);
    }
  }

  const announced = new Set(stage.tracker.terminal.keys());
  const silent = rows.filter((r) => TERMINAL.has(r.status) && ids.includes(r.id) && !announced.has(r.id) && !answeredTerminal.has(r.id));
  const checks = [...(opts.checks ?? [])];
  checks.push({ name: 'every terminal asset was announced', ok: silent.length === 0, ...(silent.length ? { detail: silent.slice(0, 5).map((r) => r.id).join(', ') } : {}) });
  const crashed = stage.crashed();
  checks.push({ name: 'no app process crashed', ok: crashed.length === 0, ...(crashed.length ? { detail: JSON.stringify(crashed) } : {}) });
  const dangling = await bucket.store.listMultipartUploads('');
  // Staging objects are for assets still waiting for their upload; any other is a leak.
  const stagingOf = new Map(rows.filter((r) => r.stagingKey).map((r) => [r.stagingKey!, r]));
  const leftoversNow = async () => {
    const staging = await listAll(stage, 'staging/');
    const leftovers = staging.filter((key) => {
      const r = stagingOf.get(key);
      return !r || r.deletedAt || (TERMINAL_STATUSES as readonly string[]).includes(r.status);
    });
    return { staging, leftovers };
  };
  let { staging, leftovers } = await leftoversNow();
  // A finalize deletes its staging object once; when that delete fails (the store answered 5xx
  // three times) the sweeper is what promises the object goes. It is asked, as an operator's
  // schedule would, and the check judges what it leaves.
  const stagingLeftBeforeSweep = leftovers.length;
  for (let round = 0; round < 3 && leftovers.length > 0; round++) {
    await sweepStagingNow(stage);
    ({ staging, leftovers } = await leftoversNow());
  }
  checks.push({
    name: 'nothing left under staging/ for terminal or deleted assets (after the staging sweep)',
    ok: leftovers.length === 0,
    ...(leftovers.length ? { detail: `${leftovers.length}: ${leftovers.slice(0, 3).join(', ')}` } : {}),
  });

  const owners = [...new Set([...rows.map((r) => r.ownerId).filter((o): o is string => Boolean(o)), ...(opts.owners ?? [])])].sort();
  const usageOff = await usageMismatches(stage, owners);
  checks.push({
    name: `usage of every owner (${owners.length}) equals a recount of its assets`,
    ok: usageOff.length === 0,
    ...(usageOff.length ? { detail: `${usageOff.length} off: ${usageOff.slice(0, 3).join('; ')}` } : {}),
  });

  return {
    name: opts.name,
    fault: opts.fault,
    submitted: subs.length,
    ready,
    failed,
    lost,
    duplicates,
    refused,
    durationMs: Date.now() - opts.started,
    checks,
    notes: {
      ...opts.notes,
      assets: rows.length,
      pendingAtDeadline: pending.length,
      danglingMultipartUploads: dangling.length,
      stagingObjects: staging.length,
      stagingLeftovers: leftovers.length,
      stagingLeftBeforeSweep,
      owners: owners.length,
      usageMismatches: usageOff.length,
      eventsSeen: stage.tracker.all.length,
    },
    failedCodes,
    problems: problems.slice(0, 20),
  };
}

export interface Usage {
  ownerId: string;
  assets: number;
  bytes: number;
  pending: number;
}

/** An owner's usage recounted from its rows: what `OwnerUsage` must always equal. */
export async function recountUsage(stage: Stage, ownerId: string): Promise<Usage> {
  const { db } = stage.services;
  const { rows } = await db.query<{ assets: number; bytes: string; pending: string }>(
    `SELECT count(*)::int AS assets,
       COALESCE(sum(CASE WHEN status = 'ready' THEN size ELSE 0 END), 0)::bigint AS bytes,
       COALESCE(sum(CASE WHEN status <> 'ready' THEN COALESCE("declaredSize", 0) ELSE 0 END), 0)::bigint AS pending
     FROM "${db.schema}"."Asset" WHERE "ownerId" = $1 AND "deletedAt" IS NULL AND status NOT IN ('failed', 'expired')`,
    [ownerId],
  );
  return { ownerId, assets: rows[0]!.assets, bytes: Number(rows[0]!.bytes), pending: Number(rows[0]!.pending) };
}

/** `GET /v1/owners/:ownerId/usage` through the scenario's API (one is started if none runs). */
export async function usageOf(stage: Stage, ownerId: string, baseUrl?: string): Promise<Usage | { status: number }> {
  baseUrl ??= stage.apiBaseUrl ?? (await stage.startApi()).baseUrl;
  const res = await fetch(`${baseUrl}/v1/owners/${encodeURIComponent(ownerId)}/usage`, { headers: { authorization: `Bearer ${stage.token}` } });
  if (res.status !== 200) {
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status };
  }
  return (await res.json()) as Usage;
}

/** Owners whose usage (API) differs from the recount, described. */
async function usageMismatches(stage: Stage, owners: string[]): Promise<string[]> {
  const off: string[] = [];
  if (owners.length === 0) return off;
  const baseUrl = stage.apiBaseUrl ?? (await stage.startApi()).baseUrl;
  const same = (a: Usage | { status: number }, b: Usage) =>
    'assets' in a && a.ownerId === b.ownerId && a.assets === b.assets && a.bytes === b.bytes && a.pending === b.pending;
  await mapLimit(owners, 8, async (ownerId) => {
    const [got, want] = await Promise.all([usageOf(stage, ownerId, baseUrl), recountUsage(stage, ownerId)]);
    if (!same(got, want)) off.push(`${ownerId}: API ${JSON.stringify(got)}, rows ${JSON.stringify({ ...want, ownerId: undefined })}`);
  });
  return off;
}

/** Runs `fn` for every item with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}
