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
