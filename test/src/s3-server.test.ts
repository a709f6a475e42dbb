/**
 * The embedded S3 server (scripts/s3-server.sh) as the suites start it: its start-up writes the
 * memstore ballast that keeps the OSD's used-bytes count above zero (a count below zero makes the
 * OSD block every write as if full), and `status` reports the OSD's own count.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STATE_DIR = process.env.S3_STATE_DIR ?? path.join(REPO_ROOT, '.s3');
const CONF = path.join(STATE_DIR, 'ceph.conf');
const BALLAST_BYTES = 64 << 20;

// Only where the suites run against the embedded server (./test.sh always does; CI must).
const embedded = existsSync(CONF);
if (!embedded && process.env.CI === 'true') throw new Error(`the embedded S3 server is not running here (${CONF} is missing)`);

/** An OSD's `perf dump` as its admin socket prints it (one key per line), with the usage figures given. */
const perfDump = (total: string, used: string, avail: string) =>
  `{\n    "osd": {\n        "op_wip": 0,\n        "stat_bytes": ${total},\n        "stat_bytes_used": ${used},\n        "stat_bytes_avail": ${avail},\n        "stat_bytes_used_raw": 0\n    }\n}\n`;

/** `status`'s reading of a dump: its line and exit code. */
function usageOf(dump: string): { out: string; code: number } {
  try {
    return { out: execFileSync(path.join(REPO_ROOT, 'scripts/s3-server.sh'), ['_usage-from-perf-dump'], { input: dump, encoding: 'utf8', timeout: 10_000 }), code: 0 };
  } catch (err) {
    const e = err as { stdout: string; status: number };
    return { out: e.stdout, code: e.status };
  }
}

describe('s3-server.sh status, reading the OSD count', () => {
  it('reports the used bytes of a sound count', () => {
    const { out, code } = usageOf(perfDump('4362076160', '67145302', '4294930858'));
    expect(code).toBe(0);
    expect(out).toMatch(/^store: 64 MiB of 4160 MiB used/);
  });

  it('names the broken count (memstore below zero: available past the capacity, used wrapped to ~2^64) and exits 1', () => {
    const { out, code } = usageOf(perfDump('4362076160', '18446744073709550000', '4362077776'));
    expect(code).toBe(1);
    expect(out).toContain("the OSD's usage count is broken");
  });

  it('prints nothing for a dump without the figures', () => {
    expect(usageOf('{}\n')).toEqual({ out: '', code: 2 });
  });
});

(embedded ? describe : describe.skip)('embedded S3 server', () => {
  it('holds the 64 MiB ballast written at start-up', () => {
    const out = execFileSync('rados', ['-c', CONF, '-p', '.rgw.root', 'stat', 'rehost-memstore-ballast'], { encoding: 'utf8', timeout: 20_000 });
    expect(out).toMatch(new RegExp(`size ${BALLAST_BYTES}\\b`));
  });

  it('status reports the OSD count, within a capacity grown by the ballast', () => {
    const out = execFileSync(path.join(REPO_ROOT, 'scripts/s3-server.sh'), ['status'], { encoding: 'utf8', timeout: 30_000 });
    const m = out.match(/store: (\d+) MiB of (\d+) MiB used/);
    expect(m).not.toBeNull();
    // The OSD refreshes the count every few seconds: the ballast may not show yet right after a start.
    const [used, total] = [Number(m![1]), Number(m![2])];
    expect(total).toBeGreaterThanOrEqual(256 + 64);
    expect(used).toBeLessThanOrEqual(total);
  });
});
