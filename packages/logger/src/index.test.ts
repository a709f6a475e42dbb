import { createLogger, redactSecrets } from './index.js';

const BOT_TOKEN = '123456789:AAbcdefghijklmnopqrstuvwxyz012345678';

function capture() {
  const lines: string[] = [];
  const log = createLogger({ name: 't', level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('redactSecrets', () => {
  it.each([
    [`https://api.telegram.org/file/bot${BOT_TOKEN}/photos/a.jpg`, BOT_TOKEN],
    ['https://s3/b/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abcdef0123&x-id=PutObject', 'abcdef0123'],
    ['https://s3/b/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abcdef0123', 'AKIA%2F2026'],
    ['next=https%3A%2F%2Fs3%2Fk%3FX-Amz-Signature%3Dfeedface', 'feedface'],
    ['authorization: Bearer sekrit-token.1', 'sekrit-token.1'],
    ['Basic YWRtaW46YWRtaW4=', 'YWRtaW46YWRtaW4='],
    ['postgresql://postgres:hunter2@db:5432/rehost', 'hunter2'],
    ['redis://:hunter3@redis:6379', 'hunter3'],
  ])('removes the secret from %s', (text: string, secret: string) => {
    const out = redactSecrets(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('[REDACTED]');
  });

  it('leaves ordinary text alone', () => {
    const text = 'GET /v1/assets/8d0c… 200 in 12 ms, http://127.0.0.1:3000/docs';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('createLogger', () => {
  it('keeps error messages and stacks (under err and any other key) and scrubs them', () => {
    const { log, json } = capture();
    log.error({ err: new Error(`getFile failed for bot${BOT_TOKEN}`) }, 'failed');
    log.warn({ error: new TypeError('connect to postgresql://u:pw1@h/db failed') }, 'other key');
    const [a, b] = json();
    expect(a!.err).toMatchObject({ type: 'Error', message: 'getFile failed for bot[REDACTED]' });
    expect(a!.err.stack).toContain('getFile failed');
    expect(b!.error).toMatchObject({ type: 'TypeError', message: 'connect to postgresql://u:[REDACTED]@h/db failed' });
  });

  it('scrubs child bindings, messages and values under secret keys at any depth', () => {
    const { log, lines, json } = capture();
    const child = log.child({ uploadUrl: 'https://s3/x?X-Amz-Signature=aaaa', src: `https://t/bot${BOT_TOKEN}/x` });
    child.info(
      { config: { S3_SECRET_ACCESS_KEY: 'S3SECRETVALUE', API_TOKENS: ['tok-1'], nested: { deeper: { password: 'pw-2' } } } },
      `message with bot${BOT_TOKEN}`,
    );
    const text = lines.join('');
    for (const secret of ['aaaa', BOT_TOKEN, 'S3SECRETVALUE', 'tok-1', 'pw-2']) expect(text).not.toContain(secret);
    const [line] = json(); // still valid JSON after line-level redaction
    expect(line!.config.S3_SECRET_ACCESS_KEY).toBe('[REDACTED]');
    expect(line!.config.nested.deeper.password).toBe('[REDACTED]');
  });

  it('produces valid JSON when a redacted value sits next to escaped quotes', () => {
    const { log, json } = capture();
    log.info({ u: 'say "https://s/k?X-Amz-Signature=abc\\" then"', v: 'x://user:"pw"@h' }, 'quotes');
    expect(() => json()).not.toThrow();
    expect(JSON.stringify(json()[0])).not.toContain('abc');
  });

  it('leaves class instances to their serializers', () => {
    const { log, json } = capture();
    class Client {
      toJSON() {
        return { name: 'default' };
      }
    }
    log.info({ client: new Client(), at: new Date(0) }, 'instances');
    expect(json()[0]).toMatchObject({ client: { name: 'default' }, at: '1970-01-01T00:00:00.000Z' });
  });
});
