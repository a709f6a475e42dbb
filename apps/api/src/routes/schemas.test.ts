import { describe, expect, it } from '@jest/globals';
import { carriesBotToken, mediaType, metadataField, safeString } from './schemas.js';

describe('carriesBotToken', () => {
  const token = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
  it.each([
    `https://api.telegram.org/file/bot${token}/photos/file_1.jpg`,
    `https://example.com/bot${token}/getFile`,
    `https://mirror.example/file/bot${token.replace(':', '%3A')}/x.jpg`,
    `https://mirror.example/file/${encodeURIComponent(encodeURIComponent(`bot${token}`))}/x.jpg`,
    `https://mirror.example/x.jpg?token=${token}`,
    `https://${token}@mirror.example/x.jpg`,
    `https://mirror.example/file/BOT${token}/x.jpg`,
  ])('finds it in %s', (url) => {
    expect(carriesBotToken(url)).toBe(true);
  });

  it.each(['https://api.telegram.org/file/photos/a.jpg', 'https://cdn.example:8443/robots.png', 'https://img.example/a%ZZb.png', 'https://img.example/12:30.png'])(
    'not in %s',
    (url) => {
      expect(carriesBotToken(url)).toBe(false);
    },
  );
});

describe('schemas', () => {
  it('safeString refuses lone surrogates and NUL', () => {
    expect(safeString().safeParse('a\ud800b').success).toBe(false);
    expect(safeString().safeParse('a\u0000b').success).toBe(false);
    expect(safeString().safeParse('ok \ud83d\ude00').success).toBe(true);
  });

  it('mediaType is case-insensitive and ignores parameters', () => {
    expect(mediaType.parse('IMAGE/PNG')).toBe('image/png');
    expect(mediaType.parse('image/png; charset=binary')).toBe('image/png');
  });

  it('metadataField limits depth, size and keys', () => {
    const deep = (n: number): unknown => (n === 0 ? 'x' : { a: deep(n - 1) });
    expect(metadataField.safeParse(deep(16)).success).toBe(true);
    expect(metadataField.safeParse(deep(17)).success).toBe(false);
    expect(metadataField.safeParse({ blob: 'x'.repeat(8000) }).success).toBe(true);
    expect(metadataField.safeParse({ blob: 'x'.repeat(8200) }).success).toBe(false);
    expect(metadataField.safeParse({ constructor: 1 }).success).toBe(false);
    expect(metadataField.safeParse({ a: { 'b\ud800': 1 } }).success).toBe(false);
  });
});
