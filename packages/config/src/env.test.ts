import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { apiEnv, ConfigError, databaseEnv, limitsEnv, maintenanceEnv, parseEnv, redisEnv, s3Env, telegramEnv, workerEnv } from './index.js';

const schema = redisEnv.extend(s3Env.shape).extend(limitsEnv.shape).extend(apiEnv.shape).extend(telegramEnv.shape);

describe('METADATA_POLICY', () => {
  it('strips by default, keeps when told, and refuses anything else naming the variable', () => {
    expect(parseEnv(workerEnv, {}).METADATA_POLICY).toBe('strip');
    expect(parseEnv(workerEnv, { METADATA_POLICY: 'keep' }).METADATA_POLICY).toBe('keep');
    expect(() => parseEnv(workerEnv, { METADATA_POLICY: 'none' })).toThrow(/METADATA_POLICY/);
  });
});

describe('DATABASE_POOL_SIZE', () => {
  it('is unset by default (each app picks its own), a positive integer when set, refused otherwise', () => {
    expect(parseEnv(databaseEnv, {}).DATABASE_POOL_SIZE).toBeUndefined();
    expect(parseEnv(databaseEnv, { DATABASE_POOL_SIZE: '12' }).DATABASE_POOL_SIZE).toBe(12);
    for (const bad of ['0', '-1', '2.5', 'many', '201']) expect(() => parseEnv(databaseEnv, { DATABASE_POOL_SIZE: bad })).toThrow(/DATABASE_POOL_SIZE/);
  });
});

describe('parseEnv', () => {
  it('applies the contract defaults and real types', () => {
    const c = parseEnv(schema, {});
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.S3_REGION).toBe('auto');
    expect(c.S3_BUCKET).toBe('rehost');
    expect(c.S3_FORCE_PATH_STYLE).toBe(false);
    expect(c.MAX_UPLOAD_BYTES).toBe(20971520);
    expect(c.UPLOAD_URL_TTL_SECONDS).toBe(900);
    expect(c.API_PORT).toBe(3000);
    expect(c.REHOST_URL_ALLOWED_HOSTS).toEqual(['api.telegram.org']);
    expect(c.TELEGRAM_API_BASE_URL).toBe('https://api.telegram.org');
    // Fail closed: no anonymous /v1, no demo page, bounded requests unless said otherwise.
    expect(c.API_ALLOW_ANONYMOUS).toBe(false);
    expect(c.DEMO_PAGE).toBe(false);
    expect(c.API_REQUEST_TIMEOUT_MS).toBe(30_000);
    expect(c.API_HEADERS_TIMEOUT_MS).toBe(10_000);
  });

  it('turns strings into numbers, booleans and lists', () => {
    const c = parseEnv(schema, { S3_FORCE_PATH_STYLE: 'true', MAX_UPLOAD_BYTES: '1024', API_TOKENS: 'a, b,,c' });
    expect(c.S3_FORCE_PATH_STYLE).toBe(true);
    expect(c.MAX_UPLOAD_BYTES).toBe(1024);
    expect(c.API_TOKENS).toEqual(['a', 'b', 'c']);
  });

  it.each([
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ MAX_UPLOAD_BYTES: 'lots' }, 'MAX_UPLOAD_BYTES'],
    [{ MAX_UPLOAD_BYTES: '0' }, 'MAX_UPLOAD_BYTES'],
    [{ S3_FORCE_PATH_STYLE: 'maybe' }, 'S3_FORCE_PATH_STYLE'],
    [{ S3_BUCKET: 'Bad_Bucket' }, 'S3_BUCKET'],
    [{ API_PORT: '70000' }, 'API_PORT'],
    [{ TELEGRAM_BOTS: 'noequals' }, 'TELEGRAM_BOTS'],
    [{ REHOST_URL_ALLOWED_HOSTS: ' ' }, 'REHOST_URL_ALLOWED_HOSTS'],
    [{ REHOST_URL_ALLOWED_HOSTS: ' , ,' }, 'REHOST_URL_ALLOWED_HOSTS'],
    [{ API_REQUEST_TIMEOUT_MS: '0' }, 'API_REQUEST_TIMEOUT_MS'],
  ])('stops with one line naming the bad variable: %j', (env, name) => {
    let err: unknown;
    try {
      parseEnv(schema, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message.startsWith(`Invalid environment: ${name} `)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('never echoes a secret value in its error', () => {
    const secret = '123456789:AAHsecretsecretsecretsecretsecret00';
    expect(() => parseEnv(telegramEnv, { TELEGRAM_BOTS: secret })).toThrow(ConfigError);
    try {
      parseEnv(telegramEnv, { TELEGRAM_BOTS: secret });
    } catch (e) {
      expect((e as Error).message).not.toContain('AAHsecret');
    }
  });

  it('parses named bots whose tokens contain colons', () => {
    const c = parseEnv(telegramEnv, { TELEGRAM_BOTS: 'main=1:abc,alt=2:def' });
    expect(c.TELEGRAM_BOTS).toEqual({ main: '1:abc', alt: '2:def' });
    const local = parseEnv(telegramEnv, { TELEGRAM_BOTS: 'big=3:ghi@http://bot-api:8081/', TELEGRAM_LOCAL_FILES_DIR: '/srv/tg' });
    expect(local.TELEGRAM_BOTS).toEqual({ big: '3:ghi@http://bot-api:8081' });
    expect(local.TELEGRAM_LOCAL_FILES_DIR).toBe('/srv/tg');
    expect(() => parseEnv(telegramEnv, { TELEGRAM_BOTS: 'big=3:ghi@not a url' })).toThrow('TELEGRAM_BOTS');
    expect(() => parseEnv(telegramEnv, { TELEGRAM_LOCAL_FILES_DIR: 'relative/dir' })).toThrow('TELEGRAM_LOCAL_FILES_DIR');
  });

  it('reports a required variable as required', () => {
    expect(() => parseEnv(z.object({ NEEDED: z.string() }), {})).toThrow('Invalid environment: NEEDED is required');
  });

  it('treats empty strings as unset', () => {
    expect(parseEnv(schema, { S3_BUCKET: '' }).S3_BUCKET).toBe('rehost');
  });
});

describe('maintenanceEnv', () => {
  it('has sweeper defaults, and 0 turns the schedules off', () => {
    expect(parseEnv(maintenanceEnv, {})).toEqual({
      MAINTENANCE_INTERVAL_MS: 60_000,
      UPLOAD_EXPIRY_GRACE_SECONDS: 3600,
      STUCK_AFTER_SECONDS: 900,
      STAGING_SWEEP_MIN_AGE_SECONDS: 600,
      MULTIPART_MAX_AGE_SECONDS: 86_400,
    });
    expect(parseEnv(maintenanceEnv, { MAINTENANCE_INTERVAL_MS: '0' }).MAINTENANCE_INTERVAL_MS).toBe(0);
    expect(() => parseEnv(maintenanceEnv, { STUCK_AFTER_SECONDS: '0' })).toThrow(/^Invalid environment: STUCK_AFTER_SECONDS /);
  });
});
