/**
 * Counting a scenario: waits (on completion events, bounded) for every accepted submission to
 * be announced, then judges from the database and the bucket:
 *
 * - lost: a submission never accepted (the client tried until its deadline), accepted but never
 *   terminal, or ready while the bytes at its permanent URL differ from the source;
 * - duplicates: objects under `i/` beyond one per distinct source file (a stray object with no
 *   asset counts too), plus assets beyond one per idempotency key / fileUniqueId that clients sent.
 */
import { TERMINAL_STATUSES } from '../../packages/jobs/src/index.js';
import { sha256 } from '../../packages/testing/src/index.js';
import type { Stage } from './stage.js';

export interface Submission {
  /** Identity of the source file: submissions of one file may share one object. */
  file: string;
  sha256: string;
  /** The idempotency key or `tg:<fileUniqueId>` the client sent: one asset per value is promised. */
  claim?: string;
  /** Asset ids the API answered with (one per successful call). */
  assetIds: Set<string>;
  accepted: boolean;
  /** Refused with 429 (back-pressure): told to come back later, not lost. */
  refused?: boolean;
  /** Why it was never accepted. */
  error?: string;
}

export const submission = (file: { fileId?: string; sha256: string }, claim?: string, fileKey?: string): Submission => ({
  file: fileKey ?? file.fileId ?? file.sha256,
  sha256: file.sha256,
  ...(claim ? { claim } : {}),
  assetIds: new Set(),
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
  sha256: string | null;
  errorCode: string | null;
  deletedAt: Date | null;
}

export async function tally(
  stage: Stage,
  subs: Submission[],
  opts: { deadline: number; name: string; fault: string; started: number; checks?: Check[]; notes?: Record<string, unknown> },
): Promise<ScenarioResult> {
  const ids = subs.flatMap((s) => [...s.assetIds]);
  const { pending } = await stage.tracker.waitAll(ids, opts.deadline);

  const { db, bucket } = stage.services;
  const { rows } = await db.query<Row>(`SELECT id, status, key, sha256, "errorCode", "deletedAt" FROM "${db.schema}"."Asset"`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const problems: string[] = [];
  const failedCodes: Record<string, number> = {};
  let ready = 0;
  let failed = 0;
  let lost = 0;
  let refused = 0;
  let duplicates = 0;

  // Bytes at the permanent URL, once per key.
  const served = new Map<string, Promise<string | undefined>>();
  const servedHash = (key: string) => {
    let p = served.get(key);
    if (!p) {
      p = fetch(`${stage.services.env.PUBLIC_BASE_URL}/${key}`).then(async (res) =>
        res.ok ? sha256(new Uint8Array(await res.arrayBuffer())) : undefined,
      );
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
      continue;
    }
    let bad: string | undefined;
    for (const a of readyOnes) {
      const got = a.key ? await servedHash(a.key) : undefined;
      if (got !== s.sha256) bad = `${s.file}: asset ${a.id} is ready but ${got ? 'serves other bytes' : 'its URL serves nothing'}`;
    }
    if (bad) {
      lost++;
      problems.push(bad);
    } else {
      ready++;
    }
  }

  // One asset per claim (idempotency key, or the fileUniqueId the client named).
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

  // One object per distinct file. An object's asset is in its key: i/<assetId>.<ext>.
  const fileOf = new Map<string, string>();
  for (const s of subs) for (const id of s.assetIds) fileOf.set(id, s.file);
  const objectsPerFile = new Map<string, string[]>();
  let startAfter: string | undefined;
  for (;;) {
    const page = await bucket.store.listObjects('i/', { startAfter, limit: 1000 });
    for (const o of page.objects) {
      const assetId = o.key.slice(2).split('.')[0]!;
      const file = fileOf.get(assetId) ?? `(no submission: ${o.key})`;
      objectsPerFile.set(file, [...(objectsPerFile.get(file) ?? []), o.key]);
    }
    if (page.done || page.objects.length === 0) break;
    startAfter = page.objects.at(-1)!.key;
  }
  for (const [file, keys] of objectsPerFile) {
    const extra = file.startsWith('(no submission') ? keys.length : keys.length - 1;
    if (extra > 0) {
      duplicates += extra;
      problems.push(`${file}: ${keys.length} objects (${keys.slice(0, 3).join(', ')})`);
    }
  }

  const announced = new Set(stage.tracker.terminal.keys());
  const silent = rows.filter((r) => (TERMINAL_STATUSES as readonly string[]).includes(r.status) && ids.includes(r.id) && !announced.has(r.id));
  const checks = [...(opts.checks ?? [])];
  checks.push({ name: 'every terminal asset was announced', ok: silent.length === 0, ...(silent.length ? { detail: silent.slice(0, 5).map((r) => r.id).join(', ') } : {}) });
  const crashed = stage.crashed();
  checks.push({ name: 'no app process crashed', ok: crashed.length === 0, ...(crashed.length ? { detail: JSON.stringify(crashed) } : {}) });
  const dangling = await bucket.store.listMultipartUploads('');

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
      eventsSeen: stage.tracker.all.length,
    },
    failedCodes,
    problems: problems.slice(0, 20),
  };
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
