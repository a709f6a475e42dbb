import { idempotencyKeyFor, parseLine } from './input.js';

describe('parseLine', () => {
  it('reads Telegram and URL lines', () => {
    expect(parseLine('{"fileId":"AgAD","ref":"r1","fileUniqueId":"u","bot":"b","ownerId":"o"}')).toEqual({
      item: { kind: 'telegram', fileId: 'AgAD', ref: 'r1', fileUniqueId: 'u', bot: 'b', ownerId: 'o' },
    });
    expect(parseLine('{"url":"https://img.example/a.png","ref":"r2"}')).toEqual({ item: { kind: 'url', url: 'https://img.example/a.png', ref: 'r2' } });
  });

  it('says what is wrong with a bad line, keeping its ref when it has one', () => {
    expect(parseLine('nope')).toEqual({ invalid: 'not JSON' });
    expect(parseLine('[1]')).toMatchObject({ invalid: expect.stringContaining('exactly one') });
    expect(parseLine('{"ref":"r3"}')).toEqual({ ref: 'r3', invalid: 'expected exactly one of "fileId" or "url"' });
    expect(parseLine('{"ref":"r4","fileId":"a","url":"https://x"}')).toMatchObject({ ref: 'r4', invalid: expect.any(String) });
    expect(parseLine('{"ref":"r5","url":"not a url"}')).toMatchObject({ ref: 'r5', invalid: expect.any(String) });
    expect(parseLine('{"fileId":"a"}')).toMatchObject({ invalid: expect.stringContaining('ref') });
  });
});

describe('idempotencyKeyFor', () => {
  it('is stable per ref, distinct across refs and prefixes, and short', () => {
    expect(idempotencyKeyFor('backfill', 'a')).toBe(idempotencyKeyFor('backfill', 'a'));
    expect(idempotencyKeyFor('backfill', 'a')).not.toBe(idempotencyKeyFor('backfill', 'b'));
    expect(idempotencyKeyFor('backfill', 'a')).not.toBe(idempotencyKeyFor('other', 'a'));
    expect(idempotencyKeyFor('backfill', 'x'.repeat(1000)).length).toBeLessThanOrEqual(200);
  });
});
