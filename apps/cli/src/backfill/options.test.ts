import { parseBackfillArgs, parseRate, UsageError } from './options.js';

describe('parseRate', () => {
  it.each([
    ['20/s', 20],
    ['20', 20],
    ['600/m', 10],
    ['1200/min', 20],
    ['0.5/s', 0.5],
    ['3600/h', 1],
  ])('%s is %d per second', (text, perSecond) => {
    expect(parseRate(text)).toBeCloseTo(perSecond);
  });

  it.each(['', 'fast', '0/s', '-1/s', '20/d', '20/s/s'])('refuses %j', (text) => {
    expect(() => parseRate(text)).toThrow(UsageError);
  });
});

describe('parseBackfillArgs', () => {
  const env = { REHOST_API_URL: 'http://127.0.0.1:3000', REHOST_API_TOKEN: 't' };

  it('takes the API from the environment and applies defaults', () => {
    const o = parseBackfillArgs(['--input', 'in.jsonl'], env);
    expect(o).toMatchObject({ apiUrl: 'http://127.0.0.1:3000', token: 't', ratePerSecond: 20, concurrency: 8, keyPrefix: 'backfill' });
    expect(o !== 'help' && o.input?.endsWith('/in.jsonl')).toBe(true);
    expect(o !== 'help' && o.statePath.endsWith('/.backfill-state.json')).toBe(true);
  });

  it('prefers flags to the environment; no --input means standard input', () => {
    const o = parseBackfillArgs(['--api-url', 'https://r.example', '--token', 'flag', '--rate', '5/s'], env);
    expect(o).toMatchObject({ apiUrl: 'https://r.example', token: 'flag', ratePerSecond: 5, input: undefined });
  });

  it('refuses a missing API, unknown flags and bad numbers', () => {
    expect(() => parseBackfillArgs([], {})).toThrow('--api-url');
    expect(() => parseBackfillArgs([], { REHOST_API_URL: 'http://x' })).toThrow('--token');
    expect(() => parseBackfillArgs(['--nope'], env)).toThrow(UsageError);
    expect(() => parseBackfillArgs(['--concurrency', '0'], env)).toThrow('--concurrency');
    expect(() => parseBackfillArgs(['--api-url', 'ftp://x'], env)).toThrow('--api-url');
    expect(parseBackfillArgs(['--help'], {})).toBe('help');
  });
});
