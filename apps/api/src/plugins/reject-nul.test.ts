import { describe, expect, it } from '@jest/globals';
import { containsNul } from './reject-nul.js';

describe('containsNul', () => {
  it.each([
    ['x\u0000y', true],
    [{ a: { b: ['ok', 'n\u0000'] } }, true],
    [{ 'key\u0000': 1 }, true],
    ['\\u0000 written out', false],
    [{ a: [1, null, true, 'fine'] }, false],
    [undefined, false],
  ])('%j → %s', (value, expected) => {
    expect(containsNul(value)).toBe(expected);
  });
});
