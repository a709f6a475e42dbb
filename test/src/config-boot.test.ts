import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function boot(app: 'api' | 'worker' | 'dashboard', env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, `apps/${app}/src/main.ts`)], {
    cwd: root,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stderr: r.stderr.trim(), stdout: r.stdout.trim() };
}

describe('a bad environment stops the process with one clear line naming the variable', () => {
  it.each([
    ['api', { MAX_UPLOAD_BYTES: 'lots' }, 'MAX_UPLOAD_BYTES'],
    ['api', { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://cdn.example' }, 'API_TOKENS'],
    ['api', { S3_FORCE_PATH_STYLE: 'sure' }, 'S3_FORCE_PATH_STYLE'],
    // Fail closed: a bare environment (`pnpm start` with nothing set) never serves an open /v1.
    ['api', {}, 'API_TOKENS'],
    ['api', { API_ALLOW_ANONYMOUS: 'false' }, 'API_TOKENS'],
    ['api', { API_TOKENS: ' , ' }, 'API_TOKENS'],
    // A blank allowlist is an error, never "any host".
    ['api', { API_TOKENS: 't', REHOST_URL_ALLOWED_HOSTS: ' ' }, 'REHOST_URL_ALLOWED_HOSTS'],
    ['api', { API_TOKENS: 't', REHOST_URL_ALLOWED_HOSTS: ' , ,' }, 'REHOST_URL_ALLOWED_HOSTS'],
    ['worker', { REHOST_URL_ALLOWED_HOSTS: ' ' }, 'REHOST_URL_ALLOWED_HOSTS'],
    ['api', { API_TOKENS: 't', API_HEADERS_TIMEOUT_MS: '5000', API_REQUEST_TIMEOUT_MS: '1000' }, 'API_HEADERS_TIMEOUT_MS'],
    ['worker', { WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY'],
    ['worker', { REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    ['dashboard', { NODE_ENV: 'production' }, 'DASHBOARD_USER'],
  ] as const)('%s with %j', (app, env, name) => {
    const r = boot(app, env);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr.startsWith(`Invalid environment: ${name} `)).toBe(true);
  });

  it('does not echo a secret it refuses', () => {
    const r = boot('worker', { TELEGRAM_BOTS: '123456789:AAHnotavalidpairbecausenoequalsign000', WORKER_CONCURRENCY: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TELEGRAM_BOTS');
    expect(r.stderr).not.toContain('AAHnotavalid');
  });
});
