import { redactKnownToken, redactToken } from './redact.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1';

describe('redactToken', () => {
  it('redacts tokens inside Bot API URLs', () => {
    expect(redactToken(`GET https://api.telegram.org/bot${TOKEN}/getFile failed`)).toBe(
      'GET https://api.telegram.org/bot[REDACTED]/getFile failed',
    );
    expect(redactToken(`https://api.telegram.org/file/bot${TOKEN}/photos/file_1.jpg`)).toBe(
      'https://api.telegram.org/file/bot[REDACTED]/photos/file_1.jpg',
    );
  });

  it('redacts bare and URL-encoded tokens', () => {
    expect(redactToken(`token=${TOKEN}&x=1`)).toBe('token=bot[REDACTED]&x=1');
    expect(redactToken(`token=${TOKEN.replace(':', '%3A')}`)).toBe('token=bot[REDACTED]');
  });

  it('leaves ordinary text alone', () => {
    const text = 'at 2024-01-01T12:34:56Z file_id AgACAgIAAxkBAAIBZ2Y job 42:retry';
    expect(redactToken(text)).toBe(text);
  });

  it('redacts a known token of any shape', () => {
    expect(redactKnownToken('GET /botlocal-test-token/getFile', 'local-test-token')).toBe('GET /bot[REDACTED]/getFile');
    expect(redactKnownToken('plain', '')).toBe('plain');
  });
});
