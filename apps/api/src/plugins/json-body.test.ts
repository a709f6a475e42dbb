import { describe, expect, it } from '@jest/globals';
import { parseJsonBody } from './json-body.js';

const refusal = (text: string): string | undefined => {
  try {
    parseJsonBody(text);
    return undefined;
  } catch (err) {
    return (err as { code: string; message: string }).code + ': ' + (err as Error).message;
  }
};
const nest = (depth: number, inner: string) => '{"a":'.repeat(depth) + inner + '}'.repeat(depth);

describe('parseJsonBody', () => {
  it.each([
    ['{"a":"x\\u0000y"}', 'body.a: strings must not contain NUL'],
    ['{"a":{"b":["ok","n\\u0000"]}}', 'body.a.b[1]: strings must not contain NUL'],
    ['{"key\\u0000":1}', 'body: keys must not contain NUL'],
    ['{"a":"a\\ud800b"}', 'body.a: strings must be well-formed Unicode'],
    ['{"\\udc00":1}', 'body: keys must be well-formed Unicode'],
    ['{"m":{"__proto__":{"polluted":true}}}', 'body.m: the key "__proto__" is not allowed'],
    ['{"constructor":{"prototype":{"polluted":true}}}', 'body: the key "constructor" is not allowed'],
    [nest(40, '"x"'), 'nested deeper than 32 levels'],
    [nest(40, '"x\\u0000"'), 'nested deeper than 32 levels'],
    ['{"a":', 'body is not valid JSON'],
  ])('%s is refused: %s', (text, message) => {
    const r = refusal(text);
    expect(r?.startsWith('bad_request: ')).toBe(true);
    expect(r).toContain(message);
  });

  it.each([
    ['{"a":"\\\\u0000 written out","b":"\\ud83d\\ude00 a pair"}'],
    ['{"a":[1,null,true,"fine"]}'],
    [nest(31, '"x"')],
  ])('%s is accepted', (text) => {
    expect(refusal(text)).toBeUndefined();
  });

  it('reads an empty body as no body', () => {
    expect(parseJsonBody('')).toBeUndefined();
  });

  it('never echoes the input in a syntax error', () => {
    expect(refusal('{"url":"https://x/bot123:SECRETSECRET/f" oops')).not.toContain('SECRET');
  });

  it('leaves Object.prototype alone', () => {
    expect(refusal('{"__proto__":{"polluted":true}}')).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
